#!/usr/bin/env bash
# Builds the desk example and runs it in both hosting directions, checking that they agree:
#   (a) desk-host, a Rust binary hosting the Python strategy next to the Rust execution engine;
#   (b) `python -m trading_desk.run`, a Python program hosting the Rust execution engine
#       through the desk's own wheel (mycelium._native with the engine registered), installed
#       in a fresh virtualenv as a team installs it; then `trading_desk.check`, its refusals.
# Run from the repository root: examples/desk/run.sh [python3]. Writes under target/desk, and
# fills examples/desk/wheel/python only while maturin builds (removed after).
set -euo pipefail
cd "$(dirname "$0")/../.."
python="${1:-python3}"
stage=target/desk/python
venv=target/desk/venv
wheel_src=examples/desk/wheel/python
trap 'rm -rf "$wheel_src"' EXIT

echo "desk: the Python side (the trading_desk package, its generated module, mycelium)"
rm -rf "$stage" && mkdir -p "$stage"
cp -r examples/desk/python/trading_desk "$stage/"
cargo run -q -p mycelium-codegen -- python examples/desk/desk.yaml -o "$stage/trading_desk" > /dev/null
# The package's Python sources only: the extension is the desk's own.
(cd bindings/python/python && find mycelium \( -name '*.py' -o -name '*.pyi' -o -name py.typed \) \
    -not -path '*__pycache__*') \
    | while read -r f; do mkdir -p "$stage/$(dirname "$f")"; cp "bindings/python/python/$f" "$stage/$f"; done

echo "desk: (a) the Rust program hosting the Python strategy"
cargo build -q -p desk-actors --bin desk-host
host_line="$(target/debug/desk-host "$stage")"
echo "  desk-host:          $host_line"

echo "desk: (b) the desk's wheel (maturin build --release), in a fresh virtualenv"
rm -rf "$wheel_src" target/desk/wheels && cp -r "$stage" "$wheel_src"
maturin_bin="$(command -v maturin || echo target/python-venv/bin/maturin)"
start=$SECONDS
"$maturin_bin" build --release --quiet --manifest-path examples/desk/wheel/Cargo.toml \
    --out target/desk/wheels
echo "  built in $((SECONDS - start)) s"
rm -rf "$wheel_src" "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --no-index target/desk/wheels/desk-*.whl
# From a directory without the sources: the installed wheel is what runs.
py_line="$(cd "$venv" && bin/python -m trading_desk.run)"
echo "  trading_desk.run:   $py_line"
(cd "$venv" && bin/python -m trading_desk.check)

if [ "$host_line" != "$py_line" ]; then
    echo "error: the two hosting directions disagree" >&2
    exit 1
fi
echo "desk: both hosting directions print the same result"
