#!/bin/sh
# Builds what the OCaml binding takes from the Rust workspace. Run by dune rules (see
# src/dune and contracts/dune); cargo decides what is out of date.
#
#   rust.sh codegen OUT.ml                  the OCaml codecs of contracts.yaml
#   rust.sh codegen-bin OUT                 the mycelium-codegen binary (release build)
#   rust.sh ffi LIB.a DLL.so HEADER.h       the C ABI (release build) and its header
#   rust.sh readme OUT.ml                   the OCaml block of README.md's "OCaml actors"
#
# The workspace root is found by walking up from the current directory (dune runs rules
# inside bindings/ocaml/_build); MYCELIUM_ROOT overrides it. CARGO (default: cargo) names
# the cargo to run.
set -eu

root="${MYCELIUM_ROOT:-}"
if [ -z "$root" ]; then
    dir="$(pwd)"
    while [ "$dir" != "/" ]; do
        if [ -f "$dir/bindings/ffi/Cargo.toml" ] && [ -f "$dir/contracts.yaml" ]; then
            root="$dir"
            break
        fi
        dir="$(dirname "$dir")"
    done
fi
if [ -z "$root" ]; then
    echo "rust.sh: cannot find the Mycelium workspace above $(pwd); set MYCELIUM_ROOT" >&2
    exit 1
fi
cargo="${CARGO:-cargo}"
# What the build is doing, on stderr: dune shows it (as it happens with --display short).
say() { echo "mycelium: $*" >&2; }
here="$(pwd)"
abs() { case "$1" in /*) echo "$1" ;; *) echo "$here/$1" ;; esac; }

case "${1:-}" in
codegen)
    out="$(abs "$2")"
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    say "generating the OCaml codecs of contracts.yaml (cargo run -p mycelium-codegen)"
    (cd "$root" && "$cargo" run -q -p mycelium-codegen -- ocaml contracts.yaml -o "$tmp" >/dev/null)
    cp "$tmp/trading.ml" "$out"
    ;;
codegen-bin)
    out="$(abs "$2")"
    say "building mycelium-codegen (cargo build --release -p mycelium-codegen)"
    (cd "$root" && "$cargo" build -q --release -p mycelium-codegen)
    target="${CARGO_TARGET_DIR:-$root/target}"
    cp "$target/release/mycelium-codegen" "$out"
    ;;
ffi)
    lib="$(abs "$2")"
    dll="$(abs "$3")"
    header="$(abs "$4")"
    say "building the Rust static library libmycelium_ffi.a (cargo build --release -p mycelium-ffi;"
    say "  a first build compiles the whole runtime: several minutes on two cores)"
    (cd "$root" && "$cargo" build -q --release -p mycelium-ffi)
    say "libmycelium_ffi.a is up to date"
    target="${CARGO_TARGET_DIR:-$root/target}"
    cp "$target/release/libmycelium_ffi.a" "$lib"
    cp "$target/release/libmycelium_ffi.so" "$dll"
    cp "$root/bindings/ffi/include/mycelium.h" "$header"
    ;;
readme)
    out="$(abs "$2")"
    awk '/^## /{in_section = ($0 == "## OCaml actors")}
         in_section && /^```ocaml$/{copy = 1; next}
         copy && /^```$/{exit}
         copy{print}' "$root/README.md" > "$out"
    if [ ! -s "$out" ]; then
        echo "rust.sh: README.md has no \`\`\`ocaml block under \"## OCaml actors\"" >&2
        exit 1
    fi
    ;;
*)
    echo "usage: rust.sh codegen OUT.ml | rust.sh codegen-bin OUT | rust.sh ffi LIB.a DLL.so HEADER.h | rust.sh readme OUT.ml" >&2
    exit 2
    ;;
esac
