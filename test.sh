#!/usr/bin/env bash
# Runs Kiln's whole test suite: unit tests, the store conformance suite, and the black-box
# integration tests that drive a real server over HTTP with a real SQLite file.
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kiln-target}"
if ! command -v cargo >/dev/null; then
  echo "test.sh: cargo is required (https://rustup.rs)" >&2
  exit 1
fi
cargo test --workspace --locked "$@"
