#!/bin/sh
# Builds the desk's actor library (cargo build --release -p desk-cabi) and copies the archive
# to $1. Run by the dune rule of this directory; the workspace root is found by walking up
# (dune runs rules inside _build), or given as MYCELIUM_ROOT.
set -eu
out="$(pwd)/$1"
root="${MYCELIUM_ROOT:-}"
if [ -z "$root" ]; then
    dir="$(pwd)"
    while [ "$dir" != "/" ] && [ ! -f "$dir/examples/desk/cabi/Cargo.toml" ]; do
        dir="$(dirname "$dir")"
    done
    root="$dir"
fi
if [ ! -f "$root/examples/desk/cabi/Cargo.toml" ]; then
    echo "cabi.sh: cannot find the workspace above $(pwd); set MYCELIUM_ROOT" >&2
    exit 1
fi
echo "desk: building the desk's actor library (cargo build --release -p desk-cabi)" >&2
(cd "$root" && "${CARGO:-cargo}" build -q --release -p desk-cabi)
cp "${CARGO_TARGET_DIR:-$root/target}/release/libdesk_cabi.a" "$out"
