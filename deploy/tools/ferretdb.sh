#!/usr/bin/env bash
# Installs FerretDB v1.23.1, a MongoDB wire-protocol server on SQLite, into
# $(go env GOPATH)/bin, idempotently: when the binary is already there it
# does nothing. The MongoDB sink's tests (nodes/sink/mongo) and the MongoDB
# store's tests (store/mongostore) start their own ferretdb from PATH or
# from there; no MongoDB server is packaged anywhere this project builds.
#
# It builds from source with the Go toolchain: this folder's own module
# (go.mod pins github.com/FerretDB/FerretDB v1.23.1, so the main go.mod
# stays clean) fetches and checks the source. Measured on a 2-core machine
# with empty module and build caches: 1.5 to 2 minutes (about 70 s of it
# compiling); nothing at all once the binary is there.
set -euo pipefail

VERSION=v1.23.1

if ! command -v go >/dev/null 2>&1; then
  echo "ferretdb.sh: Go is required (https://go.dev/doc/install)" >&2
  exit 1
fi

bin="$(go env GOPATH)/bin/ferretdb"
if [ -x "$bin" ]; then
  echo "ferretdb.sh: $bin is already there"
  exit 0
fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
echo "ferretdb.sh: building ferretdb ${VERSION} into $bin"
mkdir -p "$(dirname "$bin")"
export GO111MODULE=on GOFLAGS=-mod=mod GOWORK=off CGO_ENABLED=0
# Fetch the source through this folder's module, which pins the version
# and checks it against go.sum.
src="$(cd "$here" && go mod download -json "github.com/FerretDB/FerretDB@${VERSION}" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
if [ -z "$src" ] || [ ! -f "$src/go.mod" ]; then
  echo "ferretdb.sh: could not download github.com/FerretDB/FerretDB@${VERSION}" >&2
  exit 1
fi
# FerretDB's binary panics at start without build/version/version.txt, a
# generated file that its module zip lacks (and files in the module cache
# cannot be overlaid): build from a copy that has it. The copy is the
# FerretDB module itself, so its own go.mod and go.sum pick the
# dependencies.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -R "$src" "$work/ferretdb"
chmod -R u+w "$work/ferretdb"
echo "${VERSION}" > "$work/ferretdb/build/version/version.txt"
cd "$work/ferretdb"
go build -trimpath -o "$bin.tmp" ./cmd/ferretdb
mv "$bin.tmp" "$bin"
echo "ferretdb.sh: $("$bin" --version 2>&1 | head -n 1)"
