#!/usr/bin/env bash
# Measures the backtest example on 1 and on 2 workers, alternating, ROUNDS times each, and
# prints every run's throughput line plus wall and CPU time. Run it on an otherwise idle
# machine: the ratio of the 2-worker to the 1-worker figure is only meaningful when both
# cores are free.
#
#   bash backtest/measure.sh [ROUNDS] [extra example options...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rounds="${1:-3}"
shift || true
cargo build -q --release --example backtest
bin="${CARGO_TARGET_DIR:-target}/release/examples/backtest"
out="$(mktemp -d)"
for round in $(seq "$rounds"); do
    for workers in 1 2; do
        printf 'round %s, %s worker(s): ' "$round" "$workers"
        /usr/bin/time -f '%e s wall, %U s user' "$bin" --workers "$workers" --no-progress \
            --out "$out/w$workers" "$@" 2>&1 | grep -E 'throughput|wall' | paste -sd ' '
    done
done
cmp "$out/w1/results.csv" "$out/w2/results.csv" && echo "results.csv identical on 1 and 2 workers"
rm -rf "$out"
