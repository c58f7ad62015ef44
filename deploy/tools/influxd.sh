#!/usr/bin/env bash
# Installs InfluxDB 1.8.10's server, influxd, into $(go env GOPATH)/bin,
# idempotently: when a 1.8.10 binary is already there it does nothing.
# The InfluxDB store's tests (store/timeseries/influx) and the time-series
# sink's outage test start their own influxd from there (or from PATH).
#
# It builds from source with the Go toolchain (the module proxy serves
# github.com/influxdata/influxdb v1.8.10): about a minute and 60 MB with an
# empty module cache. InfluxDB 2.x cannot be built this way (it needs Rust
# crates), which is why Sluice is tested against 1.8.10.
set -euo pipefail

VERSION=1.8.10

if ! command -v go >/dev/null 2>&1; then
  echo "influxd.sh: Go is required (https://go.dev/doc/install)" >&2
  exit 1
fi

gobin="$(go env GOBIN)"
if [ -z "$gobin" ]; then
  gobin="$(go env GOPATH)/bin"
fi
bin="$gobin/influxd"

if [ -x "$bin" ] && "$bin" version 2>/dev/null | grep -q "InfluxDB v${VERSION} "; then
  echo "influxd.sh: $bin is already v${VERSION}"
  exit 0
fi

echo "influxd.sh: building influxd v${VERSION} into $gobin"
# Outside any module (the caller's go.mod must not matter), module mode on,
# vendoring off.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
# The release build stamps the version with -ldflags; so does this one (the
# server reports it in `influxd version` and the X-Influxdb-Version header).
GO111MODULE=on GOFLAGS=-mod=mod CGO_ENABLED=0 \
  go install -ldflags "-X main.version=${VERSION} -X main.branch=${VERSION%.*} -X main.commit=v${VERSION}" \
  "github.com/influxdata/influxdb/cmd/influxd@v${VERSION}"

if ! "$bin" version 2>/dev/null | grep -q "InfluxDB v${VERSION} "; then
  echo "influxd.sh: $bin does not report v${VERSION}: $("$bin" version 2>&1 || true)" >&2
  exit 1
fi
echo "influxd.sh: $("$bin" version)"
