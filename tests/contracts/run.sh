#!/usr/bin/env bash
# Cross-language contract tests.
#
# Regenerates the Python and OCaml codecs from contracts.yaml, checks the Rust encoder
# against the golden vectors in tests/contracts/golden/, then runs the Python (pytest) and
# OCaml (dune) suites, which decode the same vectors, re-encode them byte for byte and feed
# their decoders hostile input. Installs pytest and OCaml/dune first if they are missing.
#
#   tests/contracts/run.sh
#   MYCELIUM_BLESS=1 cargo test -p mycelium-contracts --test golden   # rewrite the vectors
#
# Exits non-zero if any stage fails; every stage runs regardless, so one report shows all.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
here="$root/tests/contracts"
cd "$root"

sudo=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
fi

step() { printf '\n== %s\n' "$*"; }

# Toolchains -------------------------------------------------------------------------------

if ! python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
    echo "error: the generated Python module needs Python >= 3.11 ($(python3 --version 2>&1) found)" >&2
    exit 1
fi
if ! python3 -c 'import pytest' 2>/dev/null; then
    step "installing pytest"
    python3 -m pip install --quiet pytest \
        || { $sudo apt-get update && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y python3-pytest; }
fi
if ! command -v dune >/dev/null 2>&1 || ! command -v ocamlc >/dev/null 2>&1; then
    step "installing OCaml and dune"
    $sudo apt-get update
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y ocaml-nox ocaml-dune
fi

# Generated code ---------------------------------------------------------------------------

step "generating Python and OCaml codecs from contracts.yaml and tests/contracts/schemas/"
py_out="$(mktemp -d)"
trap 'rm -rf "$py_out"' EXIT
# The OCaml libraries must sit inside the dune project; ocaml/gen is git-ignored.
rm -rf "$here/ocaml/gen"
for schema in contracts.yaml tests/contracts/schemas/*.yaml; do
    package="$(sed -n 's/^package: *\([a-z0-9_]*\).*/\1/p' "$schema")"
    cargo run -q -p mycelium-codegen -- python "$schema" -o "$py_out"
    cargo run -q -p mycelium-codegen -- ocaml "$schema" -o "$here/ocaml/gen/$package"
done

# Suites -----------------------------------------------------------------------------------

failed=()

step "Rust: golden vectors"
if ! cargo test -q -p mycelium-contracts --test golden; then
    failed+=("rust")
fi

step "Python: golden vectors, hostile input, encoding"
if ! MYCELIUM_PY_OUT="$py_out" PYTHONDONTWRITEBYTECODE=1 \
    python3 -m pytest -q -p no:cacheprovider "$here/python"; then
    failed+=("python")
fi

step "OCaml: golden vectors, hostile input, encoding"
if ! dune test --root "$here" --force 2>&1; then
    failed+=("ocaml")
fi

echo
if [ "${#failed[@]}" -ne 0 ]; then
    echo "contracts: FAILED (${failed[*]})"
    exit 1
fi
echo "contracts: all suites passed (rust, python, ocaml)"
