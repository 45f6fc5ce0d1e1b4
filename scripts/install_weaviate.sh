#!/usr/bin/env bash
# Puts a weaviate-server binary in the cache outside the clone and prints its path.
# Order: $WEAVIATE_BIN if set; the cached binary; the official release download;
# `go install` of the pinned version (about 4-6 minutes on 2 cores, once per machine).
set -euo pipefail

version="${WEAVIATE_VERSION:?WEAVIATE_VERSION must be set}"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/supportbot/weaviate-${version}"
target="${cache}/weaviate-server"

if [ -n "${WEAVIATE_BIN:-}" ]; then
  if [ -x "${WEAVIATE_BIN}" ]; then echo "${WEAVIATE_BIN}"; exit 0; fi
  echo "WEAVIATE_BIN=${WEAVIATE_BIN} is not an executable file" >&2; exit 1
fi
if [ -x "${target}" ]; then echo "${target}"; exit 0; fi

mkdir -p "${cache}"
tmp="$(mktemp -d "${cache}/.install.XXXXXX")"
trap 'rm -rf "${tmp}"' EXIT

arch="$(uname -m)"; case "${arch}" in x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; esac
url="https://github.com/weaviate/weaviate/releases/download/v${version}/weaviate-v${version}-linux-${arch}.tgz"
echo "Fetching Weaviate ${version} release..." >&2
if curl -fsSL --connect-timeout 5 --max-time 300 -o "${tmp}/weaviate.tgz" "${url}" 2>/dev/null \
   && tar -xzf "${tmp}/weaviate.tgz" -C "${tmp}" && [ -x "${tmp}/weaviate" ]; then
  mv "${tmp}/weaviate" "${target}"
else
  if ! command -v go >/dev/null 2>&1; then
    echo "The release download failed and Go is not installed: install Go 1.26+ or set WEAVIATE_BIN." >&2
    exit 1
  fi
  echo "Release download unavailable; building Weaviate ${version} with go install (about 5 minutes, once)..." >&2
  GOBIN="${tmp}/bin" GOFLAGS="${GOFLAGS:--buildvcs=false}" \
    go install "github.com/weaviate/weaviate/cmd/weaviate-server@v${version}" >&2
  mv "${tmp}/bin/weaviate-server" "${target}"
fi
echo "${target}"
