#!/usr/bin/env bash
# Installs what the test suite needs, only when it is missing: redis-server, Chromium and ChromeDriver
# (for the waiting page's browser test) from Debian's packages, and
# tansu, a standalone Kafka-protocol broker, from crates.io (a long build: about 16 minutes on 2 cores),
# and helm (see install-helm.sh).
set -euo pipefail

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v pgrep >/dev/null 2>&1 || missing+=(procps)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)

if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
redis-server --version

# The version is pinned so that a new release cannot change the broker under the tests.
TANSU_VERSION=0.6.0
if ! command -v tansu >/dev/null 2>&1; then
  echo "installing tansu $TANSU_VERSION (once; about 16 minutes on 2 cores)"
  cargo install tansu --version "$TANSU_VERSION" --features dynostore
fi
command -v tansu

"$(dirname "$0")/install-helm.sh"
