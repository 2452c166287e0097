#!/usr/bin/env bash
# Runs Kiln's whole test suite: unit tests, the store conformance suite, and the black-box
# integration tests that drive a real server over HTTP with a real SQLite file.
#
# The WebAssembly tests compile C fixtures to wasm32-wasi (crates/kiln-fixtures), so first make
# sure clang, wasm-ld, wasi-libc and the wasm32 compiler-rt builtins are here, installing the
# Debian packages when they are not.
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kiln-target}"
if ! command -v cargo >/dev/null; then
  echo "test.sh: cargo is required (https://rustup.rs)" >&2
  exit 1
fi

# What of the C-to-WebAssembly toolchain is missing (nothing printed: all present).
wasi_toolchain_missing() {
  command -v clang >/dev/null || { echo "clang"; return; }
  command -v wasm-ld >/dev/null || echo "wasm-ld (lld)"
  local sysroot=()
  if [ -n "${WASI_SYSROOT:-}" ]; then
    sysroot=("--sysroot=$WASI_SYSROOT")
  elif [ -d /usr/share/wasi-sysroot ]; then
    sysroot=(--sysroot=/usr/share/wasi-sysroot)
  fi
  # wasi-libc: Debian 12 puts it in /usr/lib/wasm32-wasi, newer layouts in a sysroot.
  local libc
  libc=$(clang --target=wasm32-wasi "${sysroot[@]}" -print-file-name=libc.a 2>/dev/null || true)
  [ -f "$libc" ] || echo "wasi-libc"
  local builtins
  builtins=$(clang --target=wasm32-wasi "${sysroot[@]}" -print-libgcc-file-name 2>/dev/null || true)
  [ -f "$builtins" ] || echo "the wasm32 compiler-rt builtins (libclang_rt.builtins-wasm32.a)"
}

install_wasi_toolchain() {
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    sudo=(sudo)
  fi
  # The compiler-rt package is versioned like clang; install clang first to learn its version.
  local packages=(clang lld wasi-libc)
  if command -v clang >/dev/null; then
    local major
    major=$(clang -dumpversion | cut -d. -f1)
    packages+=("libclang-rt-$major-dev-wasm32")
  fi
  local install=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends)
  echo "test.sh: installing ${packages[*]}" >&2
  if ! "${install[@]}" "${packages[@]}"; then
    echo "test.sh: apt-get install failed; running apt-get update and trying again" >&2
    "${sudo[@]}" apt-get update
    "${install[@]}" "${packages[@]}"
  fi
}

missing=$(wasi_toolchain_missing)
if [ -n "$missing" ]; then
  echo "test.sh: the C WebAssembly fixtures need what is missing here:" >&2
  echo "$missing" | sed 's/^/  - /' >&2
  if ! command -v apt-get >/dev/null; then
    echo "test.sh: no apt-get: install clang, lld, wasi-libc and the wasm32 compiler-rt yourself" >&2
    exit 1
  fi
  had_clang=$(command -v clang || true)
  install_wasi_toolchain
  missing=$(wasi_toolchain_missing)
  if [ -n "$missing" ] && [ -z "$had_clang" ]; then
    # clang has just arrived: now its version names the compiler-rt package.
    install_wasi_toolchain
    missing=$(wasi_toolchain_missing)
  fi
  if [ -n "$missing" ]; then
    echo "test.sh: still missing after installing:" >&2
    echo "$missing" | sed 's/^/  - /' >&2
    exit 1
  fi
fi

# The example scripts are type-checked with TypeScript's tsc (crates/kiln/tests/it/examples.rs),
# installed once from npm into a cache outside the clone; Node and npm come from Debian when
# missing.
ensure_tsc() {
  local dir="$HOME/.cache/kiln-node"
  local tsc="$dir/node_modules/.bin/tsc"
  if [ ! -x "$tsc" ] || ! "$tsc" --version >/dev/null 2>&1; then
    if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
      local sudo=()
      [ "$(id -u)" -ne 0 ] && sudo=(sudo)
      echo "test.sh: installing nodejs and npm" >&2
      "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm \
        || { "${sudo[@]}" apt-get update && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
          apt-get install -y --no-install-recommends nodejs npm; }
    fi
    echo "test.sh: installing TypeScript into $dir" >&2
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-audit --no-fund --loglevel=error typescript@5.9 >&2
  fi
  export TSC="$tsc"
}
ensure_tsc

# The OpenAPI document is validated against the OpenAPI 3.1 schema with openapi-spec-validator
# (PyPI), installed once into a virtual environment outside the clone (crates/kiln/tests/it/openapi.rs).
ensure_openapi_validator() {
  local venv="$HOME/.cache/kiln-python"
  local validator="$venv/bin/openapi-spec-validator"
  if [ ! -x "$validator" ]; then
    if ! python3 -m venv --help >/dev/null 2>&1; then
      local sudo=()
      [ "$(id -u)" -ne 0 ] && sudo=(sudo)
      echo "test.sh: installing python3-venv" >&2
      "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-venv \
        || { "${sudo[@]}" apt-get update && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
          apt-get install -y --no-install-recommends python3-venv; }
    fi
    echo "test.sh: installing openapi-spec-validator into $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "openapi-spec-validator>=0.7" >&2
  fi
  export OPENAPI_SPEC_VALIDATOR="$validator"
}
ensure_openapi_validator

cargo test --workspace --locked "$@"
