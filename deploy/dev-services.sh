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
# The designer needs Node.js >= 20.19 with npm (Vite 8).
if ! command -v node >/dev/null 2>&1 || ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)'; then
  echo "dev-services: Node.js 20.19 or later with npm is required for the designer (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

here="$(cd "$(dirname "$0")" && pwd)"
for tool in "$here"/tools/*.sh; do
  [ -e "$tool" ] || continue
  bash "$tool"
done
echo "dev-services: ready"
