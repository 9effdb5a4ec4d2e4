#!/usr/bin/env bash
# Installs what the test suite needs, only when it is missing: redis-server and redis-cli, Chromium and ChromeDriver
# (for the waiting page's browser test), nginx and node (for the edge kit) from Debian's packages, the
# edge kit's jose and the browser tests' axe-core from the npm registry (pinned), and
# tansu, a standalone Kafka-protocol broker, from crates.io (a long build: about 16 minutes on 2 cores),
# and helm (see install-helm.sh).
set -euo pipefail

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
# redis-cli makes the local Redis Cluster the cluster tests start (--cluster create).
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
command -v pgrep >/dev/null 2>&1 || missing+=(procps)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
# The edge kit's tests: real nginx in front of a stub site, the JavaScript verifier under node.
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v node >/dev/null 2>&1 || missing+=(nodejs npm)
# The alerts: promtool checks and unit-tests the chart's rules, a real prometheus scrapes a real
# waitroom and evaluates them (the package starts no server here).
command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
# The webhooks' https test makes its certificate authority and receiver certificate with openssl.
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
# The API fuzzer (schemathesis) lives in a virtualenv of its own.
python3 -m venv --help >/dev/null 2>&1 || missing+=(python3 python3-venv)

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

# The JavaScript verifier's one dependency (jose), at the version package-lock.json pins.
edge_js="$(dirname "$0")/../deploy/edge-js"
if [ ! -d "$edge_js/node_modules/jose" ]; then
  echo "installing the edge kit's packages"
  (cd "$edge_js" && npm ci --no-audit --no-fund --loglevel=error)
fi

# axe-core, which the browser tests run on every state of the page, at the version its lock pins.
axe="$(dirname "$0")/../tests/axe"
if [ ! -f "$axe/node_modules/axe-core/axe.min.js" ]; then
  echo "installing axe-core"
  (cd "$axe" && npm ci --no-audit --no-fund --loglevel=error)
fi

# schemathesis, the fuzzer the contract test runs against a real serve, pinned with the Hypothesis
# release it works with (later ones changed an API it uses), in the project's own virtualenv.
SCHEMATHESIS_VERSION=3.39.16
HYPOTHESIS_VERSION=6.131.14
tools="$(cd "$(dirname "$0")/.." && pwd)/.tools"
if [ ! -x "$tools/schemathesis/bin/schemathesis" ] \
  || ! "$tools/schemathesis/bin/schemathesis" --version | grep -q "$SCHEMATHESIS_VERSION"; then
  echo "installing schemathesis $SCHEMATHESIS_VERSION"
  rm -rf "$tools/schemathesis"
  python3 -m venv "$tools/schemathesis"
  "$tools/schemathesis/bin/pip" install --quiet --disable-pip-version-check \
    "schemathesis==$SCHEMATHESIS_VERSION" "hypothesis==$HYPOTHESIS_VERSION"
fi
"$tools/schemathesis/bin/schemathesis" --version

# PyJWT, a JWT library other than the project's, to check passes as a booking service would
# (tests/api/passes.rs), in a virtualenv of its own.
PYJWT_VERSION=2.10.1
if [ ! -x "$tools/pyjwt/bin/python" ] \
  || ! "$tools/pyjwt/bin/pip" show PyJWT 2>/dev/null | grep -q "^Version: $PYJWT_VERSION$"; then
  echo "installing PyJWT $PYJWT_VERSION"
  rm -rf "$tools/pyjwt"
  python3 -m venv "$tools/pyjwt"
  "$tools/pyjwt/bin/pip" install --quiet --disable-pip-version-check "PyJWT==$PYJWT_VERSION"
fi

# kafka-python (with lz4: waitroom's producer compresses with it), for the README's recipe that reads the admitted visitors' topic
# (examples/read-admitted.py, run by the suite against the test broker), in a virtualenv of its own.
KAFKA_PYTHON_VERSION=3.0.12
LZ4_VERSION=4.4.5
if [ ! -x "$tools/kafka/bin/python" ] \
  || ! "$tools/kafka/bin/pip" show kafka-python 2>/dev/null | grep -q "^Version: $KAFKA_PYTHON_VERSION$" \
  || ! "$tools/kafka/bin/pip" show lz4 2>/dev/null | grep -q "^Version: $LZ4_VERSION$"; then
  echo "installing kafka-python $KAFKA_PYTHON_VERSION"
  rm -rf "$tools/kafka"
  python3 -m venv "$tools/kafka"
  "$tools/kafka/bin/pip" install --quiet --disable-pip-version-check \
    "kafka-python==$KAFKA_PYTHON_VERSION" "lz4==$LZ4_VERSION"
fi
