#!/usr/bin/env bash
# Installs, idempotently, what `make test` and `make run` need on a fresh
# Debian machine (run as root; no systemd). Tests start their own server
# instances on free ports; this script only installs binaries.
#
# Mosquitto (MQTT connector tests), mosquitto-clients (docs examples) and
# libcoap3-bin (coap-client-notls, the CoAP connector's test device),
# postgresql, mariadb-server and redis-server (the SQL and Redis sinks' tests
# start private servers).
set -euo pipefail

PACKAGES=(mosquitto mosquitto-clients libcoap3-bin postgresql mariadb-server redis-server)

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "dev-services: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  echo "dev-services: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

if ! command -v go >/dev/null 2>&1; then
  echo "dev-services: Go 1.26 is required (https://go.dev/doc/install)" >&2
  exit 1
fi
echo "dev-services: ready"
