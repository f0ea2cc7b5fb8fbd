#!/usr/bin/env bash
# Runs every test of Mycelium: the Rust workspace (unit, integration and doc tests), the
# examples, and the cross-language contract suites (Python and OCaml), installing what they
# need (pytest with pip, OCaml and dune with apt-get) when it is missing.
#
#   bash scripts/test.sh
#
# The benchmark crates are not part of the test run (they build kameo, ractor and actix);
# `.ci/run` builds them and runs `compare --quick` so they cannot rot.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n== %s\n' "$*"; }

if ! command -v cargo >/dev/null 2>&1; then
    echo "error: cargo is not installed; install a Rust toolchain (https://rustup.rs) first" >&2
    exit 1
fi

step "Rust: unit, integration and doc tests"
cargo test --workspace --exclude mycelium-bench --exclude mycelium-wire-bench

step "examples"
for example in examples/*.rs; do
    name="$(basename "$example" .rs)"
    echo "-- $name"
    cargo run -q --example "$name" > /dev/null
done
# The main job, in a quick form, on one worker and on two: the results must be identical.
bt="target/test-backtest"
rm -rf "$bt"
for workers in 1 2; do
    echo "-- backtest, $workers worker(s)"
    cargo run -q --example backtest -- --grid small --ticks 100000 --workers "$workers" \
        --no-progress --out "$bt/w$workers" > /dev/null
done
cmp "$bt/w1/results.csv" "$bt/w2/results.csv"
echo "backtest results identical on 1 and 2 workers"

step "contracts: Rust, Python and OCaml"
bash tests/contracts/run.sh
