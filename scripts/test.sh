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

step "pipeline: one process, then three over Unix sockets and over TCP"
cargo build -q --example pipeline
pipeline=target/debug/examples/pipeline
digest() { grep '^result-digest=' "$1" | tail -n 1; }
"$pipeline" --topology examples/pipeline/monolith.toml --node all > target/pipeline-monolith.out
MYCELIUM_PIPELINE_SECRET="$(head -c 32 /dev/urandom | base64)"
export MYCELIUM_PIPELINE_SECRET
for split in split-unix split-tcp; do
    pids=()
    for node in exec strategy feed; do
        timeout 120 "$pipeline" --topology "examples/pipeline/$split.toml" --node "$node" \
            > "target/pipeline-$split-$node.out" 2>&1 &
        pids+=("$!")
    done
    failed=0
    for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
    if [ "$failed" != 0 ] ||
        [ "$(digest target/pipeline-monolith.out)" != "$(digest "target/pipeline-$split-exec.out")" ]; then
        echo "error: the $split pipeline failed or its digest differs from one process's:" >&2
        tail -n 5 target/pipeline-monolith.out "target/pipeline-$split-"*.out >&2
        exit 1
    fi
    echo "$split: $(digest "target/pipeline-$split-exec.out"), as in one process"
done

step "contracts: Rust, Python and OCaml"
bash tests/contracts/run.sh
