#!/usr/bin/env bash
# The whole test suite: installs what it needs (when missing), checks formatting and lints, then runs
# every unit and integration test. The integration tests start their own redis-server.
set -euo pipefail
cd "$(dirname "$0")/.."
# Where `cargo install` puts the broker the Kafka tests start.
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
# A failing test's message and line, not a backtrace that pushes them out of a CI log's tail.
export RUST_BACKTRACE=0

scripts/install-test-deps.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --all-targets --locked
# The Dockerfile's build stage, replayed without a container engine (tests/api/dockerfile.rs): on its
# own, after the suite, as it compiles a release build.
cargo test --locked --test api -- --ignored dockerfile
