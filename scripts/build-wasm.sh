#!/usr/bin/env bash
# Builds crates/guest-code-wasm/web/guest-code.wasm, the guest-code crate for browsers
# (docs/guest-codes.md, "WebAssembly"; docs/design/guest-codes-in-the-browser.md).
#
#   scripts/build-wasm.sh           build it and replace the committed file
#   scripts/build-wasm.sh --check   build it and fail if the committed file differs (CI)
#
# The file is committed so that the server builds without the wasm32 target; this check is
# what keeps it from going stale. The same compiler must give the same bytes on any machine,
# so the compiler is pinned (WASM_TOOLCHAIN below, installed with rustup if the default
# toolchain is another version) and the machine's paths are remapped out of the output.
#
# Exit status: 0 done (or identical), 1 the committed file differs or the build failed,
# 3 the pinned toolchain or the wasm32 target cannot be installed here.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

WASM_TOOLCHAIN=1.95.0
TARGET=wasm32-unknown-unknown
OUT=crates/guest-code-wasm/web/guest-code.wasm

check=false
case "${1:-}" in
  --check) check=true ;;
  "") ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

cannot() { echo "build-wasm: $*" >&2; exit 3; }

command -v rustup >/dev/null 2>&1 || cannot "rustup is needed to install Rust $WASM_TOOLCHAIN and the $TARGET target"
cargo=(cargo)
if [ "$(rustc --version 2>/dev/null | cut -d' ' -f2)" = "$WASM_TOOLCHAIN" ]; then
  toolchain=$(rustup show active-toolchain | cut -d' ' -f1)
else
  toolchain=$WASM_TOOLCHAIN
  cargo=(cargo "+$WASM_TOOLCHAIN")
  rustup run "$WASM_TOOLCHAIN" rustc --version >/dev/null 2>&1 \
    || rustup toolchain install "$WASM_TOOLCHAIN" --profile minimal --no-self-update >/dev/null \
    || cannot "cannot install Rust $WASM_TOOLCHAIN with rustup"
fi
if ! rustup target list --installed --toolchain "$toolchain" 2>/dev/null | grep -qx "$TARGET"; then
  rustup target add "$TARGET" --toolchain "$toolchain" >/dev/null || cannot "cannot add the $TARGET target to $toolchain"
fi

# Paths of this checkout and of the crate sources must not reach the output (panic locations
# are kept as text even with panic = "abort").
cargo_home=${CARGO_HOME:-$HOME/.cargo}
sep=$'\x1f'
export CARGO_ENCODED_RUSTFLAGS="--remap-path-prefix=$root=/latchkey${sep}--remap-path-prefix=$cargo_home=/cargo"
unset RUSTFLAGS

target_dir=${CARGO_TARGET_DIR:-$root/target}
"${cargo[@]}" build --locked --quiet -p latchkey-guest-code-wasm --target "$TARGET" --profile wasm \
  --target-dir "$target_dir"
built="$target_dir/$TARGET/wasm/latchkey_guest_code_wasm.wasm"

size() { wc -c <"$1" | tr -d ' '; }
if $check; then
  if cmp -s "$built" "$OUT"; then
    echo "$OUT is up to date ($(size "$OUT") bytes, Rust $WASM_TOOLCHAIN)"
    exit 0
  fi
  echo "FAIL: $OUT is not what its sources build with Rust $WASM_TOOLCHAIN" >&2
  echo "  committed: $(size "$OUT" 2>/dev/null || echo missing) bytes, built: $(size "$built") bytes" >&2
  echo "  run scripts/build-wasm.sh and commit $OUT" >&2
  exit 1
fi
cp "$built" "$OUT"
echo "$OUT: $(size "$OUT") bytes ($(gzip -9c "$OUT" | wc -c | tr -d ' ') gzipped), Rust $WASM_TOOLCHAIN"
