#!/usr/bin/env bash
# Runs every test of Mycelium: the Rust workspace (unit, integration and doc tests), the
# examples, the backtest's cross-check against backtesting.py and its report in headless
# Chromium, and the cross-language contract suites (Python and OCaml), installing what they
# need (pytest and backtesting with pip; Chromium, OCaml and dune with apt-get) when it is
# missing.
#
#   bash scripts/test.sh
#
# The benchmark crates are not part of the test run (they build kameo, ractor and actix);
# `.ci/run` builds them and runs `compare --quick` so they cannot rot.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n== %s (at %ds)\n' "$*" "$SECONDS"; }

if ! command -v cargo >/dev/null 2>&1; then
    echo "error: cargo is not installed; install a Rust toolchain (https://rustup.rs) first" >&2
    exit 1
fi

step "Rust: unit, integration and doc tests"
cargo test --workspace --exclude mycelium-bench --exclude mycelium-wire-bench

step "examples"
# The test build above built every example and the workspace's tools (`target/debug`): they
# run from there, rather than through `cargo run`, whose build of one package alone would
# choose other features for some dependencies and build them, and all above them, again.
for example in examples/*.rs; do
    name="$(basename "$example" .rs)"
    echo "-- $name"
    "target/debug/examples/$name" > /dev/null
done
# The main job, in a quick form, on one worker and on two: the results must be identical.
bt="target/test-backtest"
rm -rf "$bt"
for workers in 1 2; do
    echo "-- backtest, $workers worker(s)"
    target/debug/examples/backtest --grid small --ticks 100000 --workers "$workers" \
        --no-progress --out "$bt/w$workers" > /dev/null
done
cmp "$bt/w1/results.csv" "$bt/w2/results.csv"
echo "backtest results identical on 1 and 2 workers"
# An output folder that cannot be made (under a file) stops the run before the sweep.
if target/debug/examples/backtest --grid small --ticks 1000 --no-progress \
    --out "$bt/w1/results.csv/out" > "$bt/no-out.out" 2>&1; then
    echo "error: the backtest ran with an output folder it cannot make" >&2
    exit 1
fi
if grep -q "^grid:" "$bt/no-out.out" || ! grep -q "cannot create the output folder" "$bt/no-out.out"; then
    echo "error: an output folder that cannot be made was found only after the sweep:" >&2
    cat "$bt/no-out.out" >&2
    exit 1
fi
# The same sweep in messages of 1, 7 and 4,096 rows, with a risk limit that halts runs: the
# results must be identical.
for batch in 1 7 4096; do
    cargo run -q --release --example backtest -- --grid small --ticks 20000 --batch "$batch" \
        --risk-limit 0.02 --commission-bps 2 --no-progress --out "$bt/b$batch" > /dev/null
done
cmp "$bt/b1/results.csv" "$bt/b7/results.csv"
cmp "$bt/b1/results.csv" "$bt/b4096/results.csv"
echo "backtest results identical with batches of 1, 7 and 4096 rows"
# --crash-at: the fault is recovered without a panic message.
cargo run -q --release --example backtest -- --grid small --ticks 20000 --crash-at 5000 \
    --no-progress --out "$bt/crash" > "$bt/crash.out" 2> "$bt/crash.err"
if grep -q "panicked" "$bt/crash.err" "$bt/crash.out"; then
    echo "error: --crash-at printed a panic message" >&2
    exit 1
fi
grep "fault injected" "$bt/crash.out"
cargo run -q --release --example backtest -- --grid small --ticks 20000 --no-progress \
    --out "$bt/clean" > /dev/null
cmp <(cut -d, -f1-22 "$bt/clean/results.csv") <(cut -d, -f1-22 "$bt/crash/results.csv")
echo "a recovered fault leaves every statistic unchanged"

step "backtest: statistics against backtesting.py"
if ! python3 -c "import backtesting" >/dev/null 2>&1; then
    echo "installing backtesting (pip)"
    python3 -m pip install -q backtesting
fi
python3 backtest/tests/crosscheck/backtesting_py.py target/release/examples/backtest "$bt/crosscheck"

step "backtest: the report in headless Chromium"
chromium_bin="$(command -v chromium || command -v chromium-browser || true)"
if [ -z "$chromium_bin" ]; then
    echo "installing chromium (apt-get)"
    if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq chromium > /dev/null
    chromium_bin="$(command -v chromium || command -v chromium-browser)"
fi
python3 backtest/tests/report/chromium.py "$chromium_bin" "$bt/crosscheck/business-days-0/report.html" \
    "$bt/report"

step "pipeline: one process, then three over Unix sockets, over TCP, over TCP with mutual TLS and over shared memory"
pipeline=target/debug/examples/pipeline
digest() { grep '^result-digest=' "$1" | tail -n 1; }
"$pipeline" --topology examples/pipeline/monolith.toml --node all > target/pipeline-monolith.out
MYCELIUM_PIPELINE_SECRET="$(head -c 32 /dev/urandom | base64)"
export MYCELIUM_PIPELINE_SECRET
# The TLS topology's certificate authority and node certificates (in examples/pipeline/certs).
"$pipeline" --topology examples/pipeline/split-tls.toml --make-certs > /dev/null
for split in split-unix split-tcp split-tls split-shm; do
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
# Recorded over Unix sockets, one journal per node; each node replayed alone from its journal
# by the journal tool (which runs the replayer the pipeline named): every actor's outputs as
# recorded, and the nodes hosting `execution` and the strategy print the live run's digest.
journals="$(mktemp -d target/pipeline-journals.XXXXXX)"
pids=()
for node in exec strategy feed; do
    timeout 120 "$pipeline" --topology examples/pipeline/split-unix.toml --node "$node" \
        --record "$journals" > "target/pipeline-recorded-$node.out" 2>&1 &
    pids+=("$!")
done
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
for node in exec strategy feed; do
    timeout 120 target/debug/mycelium-journal replay "$journals/$node" \
        > "target/pipeline-replayed-$node.out" 2> "target/pipeline-replayed-$node.err" || failed=1
done
for node in exec strategy; do
    if [ "$(digest target/pipeline-recorded-exec.out)" != "$(digest "target/pipeline-replayed-$node.out")" ]; then
        failed=1
    fi
done
if [ "$failed" != 0 ] || [ -z "$(digest target/pipeline-recorded-exec.out)" ]; then
    echo "error: the recorded pipeline failed, a node's replay differs, or its digest differs from the live run's:" >&2
    tail -n 5 target/pipeline-recorded-*.out target/pipeline-replayed-*.out >&2
    tail -c 2000 target/pipeline-replayed-*.err >&2
    exit 1
fi
echo "recorded over Unix sockets, each node replayed alone as recorded: $(digest target/pipeline-replayed-exec.out), as live"
rm -rf "$journals"
# A node whose peers never come gives up on them and exits with an error, never waits forever.
gone="target/pipeline-gone.toml"
sed -e 's#^socket_dir = .*#socket_dir = "pipeline-gone-sockets"#' examples/pipeline/split-unix.toml > "$gone"
printf '\n[link]\nmax_attempts = 2\ngive_up_after_ms = 1000\n' >> "$gone"
for node in exec strategy feed; do
    status=0
    timeout 60 "$pipeline" --topology "$gone" --node "$node" > "target/pipeline-gone-$node.out" 2>&1 \
        || status=$?
    if [ "$status" != 1 ] || ! grep -q "gave up (.*); this run cannot finish" "target/pipeline-gone-$node.out"; then
        echo "error: the $node node alone did not give up on its peers (exit $status):" >&2
        tail -n 5 "target/pipeline-gone-$node.out" >&2
        exit 1
    fi
done
echo "each node alone gives up on its peers and exits with an error"

step "contracts: Rust, Python and OCaml"
bash tests/contracts/run.sh

step "Python package: build, install into a virtualenv, pytest"
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "error: the Python package needs python3 >= 3.11 (with venv)" >&2
    exit 1
fi
# The package's message classes are the generator's output for contracts.yaml, checked in.
target/debug/mycelium-codegen python contracts.yaml -o target/python-contracts > /dev/null
cmp target/python-contracts/trading.py bindings/python/python/mycelium/trading.py \
    || { echo "error: bindings/python/python/mycelium/trading.py is stale: regenerate it with" \
              "cargo run -p mycelium-codegen -- python contracts.yaml -o bindings/python/python/mycelium" >&2
         exit 1; }
venv="target/python-venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip show -q maturin pytest >/dev/null 2>&1 \
    || "$venv/bin/python" -m pip install -q maturin pytest
# Distributed sweeps (mycelium.distributed): Dask is needed; Ray's tests are skipped, with a
# message, only where pip cannot install it.
"$venv/bin/python" -c 'import distributed' >/dev/null 2>&1 \
    || "$venv/bin/python" -m pip install -q 'dask[distributed]'
if ! "$venv/bin/python" -c 'import ray' >/dev/null 2>&1; then
    "$venv/bin/python" -m pip install -q ray >/dev/null 2>&1 \
        || echo "note: pip cannot install Ray here: the Ray tests of mycelium.distributed are skipped"
fi
# The wheel, built once with the venv's maturin (it reuses the workspace's target/ directory)
# and stripped ([tool.maturin] in pyproject.toml), as a team builds it for its cluster workers.
rm -rf target/wheels
PATH="$PWD/$venv/bin:$PATH" "$venv/bin/maturin" build --release --quiet \
    --manifest-path bindings/python/Cargo.toml --out target/wheels
wheel="$(ls target/wheels/mycelium_actors-*.whl)"
# Installed as on a host without a Rust toolchain: a fresh virtualenv, no cargo on the PATH,
# no package index; one actor answers an ask.
bare_path="$(printf '%s' "$PATH" | tr ':' '\n' | grep -v -e cargo -e rustup | paste -sd: -)"
fresh="$(mktemp -d)"
python3 -m venv "$fresh/venv"
env PATH="$bare_path" sh -c '! command -v cargo >/dev/null && ! command -v rustc >/dev/null' \
    || { echo "error: cargo is still on the PATH of the bare-host install check" >&2; exit 1; }
env PATH="$bare_path" "$fresh/venv/bin/python" -m pip install -q --no-index "$wheel"
(cd "$fresh" && env PATH="$bare_path" "$fresh/venv/bin/python" - <<'PY'
import mycelium


class Echo(mycelium.Actor):
    @mycelium.handler(str)
    def echo(self, text: str) -> str:
        return text.upper()


with mycelium.Bus() as bus:
    assert bus.spawn(Echo).ask("wheel") == "WHEEL"
print("the wheel runs on a host without a Rust toolchain")
PY
)
rm -rf "$fresh"
"$venv/bin/python" -m pip install -q --force-reinstall --no-deps "$wheel"
# The package's types as a user's type checker sees them (stubs and annotations), strictly.
"$venv/bin/python" -m pip show -q mypy >/dev/null 2>&1 || "$venv/bin/python" -m pip install -q mypy
"$venv/bin/python" -m pip show -q pandas >/dev/null 2>&1 || "$venv/bin/python" -m pip install -q pandas
# backtesting.py: the Python strategy's fills are checked trade by trade against it.
"$venv/bin/python" -m pip show -q backtesting >/dev/null 2>&1 || "$venv/bin/python" -m pip install -q backtesting
"$venv/bin/python" -m mypy --strict --config-file bindings/python/pyproject.toml \
    --cache-dir target/mypy-cache bindings/python/python/mycelium examples/python_strategy.py
# pytest's own temporary directories in one removed at the end (by default it keeps the last
# three runs'); the tests put Dask's and Ray's scratch files in one of their own (conftest.py),
# and nothing may appear where those two write by default.
pytest_tmp="$(mktemp -d)"
trap 'rm -rf "$pytest_tmp"' EXIT
leftovers() {
    local d
    for d in "${TMPDIR:-/tmp}/dask-scratch-space" "${TMPDIR:-/tmp}/ray"; do
        if [ -e "$d" ]; then find "$d" -maxdepth 1 | sort; fi
    done
}
before="$(leftovers)"
set +e
"$venv/bin/python" -m pytest -q -p no:cacheprovider --basetemp "$pytest_tmp/base" bindings/python/tests
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
    echo "error: pytest collected no tests in bindings/python/tests" >&2
    exit 1
elif [ "$rc" -ne 0 ]; then
    exit "$rc"
fi
if [ "$(leftovers)" != "$before" ]; then
    echo "error: the Python tests left Dask or Ray scratch files behind:" >&2
    diff <(echo "$before") <(leftovers) >&2 || true
    exit 1
fi
echo "-- examples/python_strategy.py"
"$venv/bin/python" examples/python_strategy.py > /dev/null
echo "-- bindings/python/bench/compare.py --quick"
"$venv/bin/python" bindings/python/bench/compare.py --quick > /dev/null

step "OCaml actors: dune build, dune test and dune install in bindings/ocaml"
if ! command -v dune >/dev/null 2>&1 || ! command -v ocamlopt >/dev/null 2>&1; then
    sudo=""
    if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then sudo="sudo"; fi
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ocaml-nox ocaml-dune > /dev/null
fi
# dune builds the Rust static library (cargo build --release -p mycelium-ffi) and the
# generated codecs itself; --force reruns the tests even when nothing changed.
(cd bindings/ocaml && dune build 2>&1 && dune test --force 2>&1)
# Installed (findlib names `mycelium` and `mycelium.trading`), the library builds a program of
# another dune project.
echo "-- dune install, and a program built against the installed library"
prefix="$PWD/target/ocaml-prefix"
rm -rf "$prefix"
(cd bindings/ocaml && dune install --prefix "$prefix" 2>/dev/null)
(cd tests/ocaml-install && OCAMLPATH="$prefix/lib" dune build ./main.exe 2>&1 && ./_build/default/main.exe)

# After the OCaml step, whose builds it reuses (the library, libmycelium_ffi.a's dependencies).
step "desk example: a team's own schema and actors, hosted from Rust, Python, OCaml and C, and split over two nodes"
PATH="$PWD/$venv/bin:$PATH" DESK_REQUIRE_OCAML=1 bash examples/desk/run.sh python3
