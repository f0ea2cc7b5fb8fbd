#!/usr/bin/env bash
# Builds the desk example and runs it every way, checking that the result lines agree:
#   (a) desk-host, a Rust binary hosting the Python strategy next to the Rust execution engine,
#       and the test tests/hosted.rs (Python children reached through typed addresses);
#   (b) `python -m trading_desk.run`, a Python program hosting the Rust execution engine
#       through the desk's own wheel (mycelium._native with the engine registered), installed
#       in a fresh virtualenv as a team installs it; then `trading_desk.check`, its refusals;
#   (c) desk_run.exe, an OCaml program (dune) hosting the Rust engine from the desk's actor
#       library (libdesk_cabi.a) next to an OCaml risk check and strategy; then desk_check.exe
#       and the C program c/desk_check.c, the refusals in OCaml's and C's terms;
#   (d) desk-host split over split-unix.toml: the engine on one node, the Python strategy on
#       another, two processes linked by Unix sockets.
# Run from the repository root: examples/desk/run.sh [python3]. Writes under target/desk, and
# fills examples/desk/wheel/python only while maturin builds (removed after). (c) needs dune
# and ocamlopt (Debian: ocaml-nox ocaml-dune); without them it is skipped with a notice,
# unless DESK_REQUIRE_OCAML=1 (scripts/test.sh sets it).
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
cargo build -q -p desk-actors --features host --bin desk-host
# Python children of the desk's schema reached as Rust children (typed addresses, restarts,
# their publications heard by a Rust subscriber).
cargo test -q -p desk-actors --features host --test hosted
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

agree() {
    if [ "$host_line" != "$2" ]; then
        echo "error: $1 prints \"$2\", not \"$host_line\" as desk-host does" >&2
        exit 1
    fi
}
agree "trading_desk.run" "$py_line"

echo "desk: (c) the OCaml program hosting the Rust engine (dune, the desk's actor library)"
if command -v dune > /dev/null 2>&1 && command -v ocamlopt > /dev/null 2>&1; then
    prefix="$PWD/target/desk/ocaml-prefix"
    # The installed `mycelium` library (and mycelium-codegen), as a team's project uses it.
    (cd bindings/ocaml && dune build @install 2>&1 && dune install --prefix "$prefix" 2> /dev/null)
    (cd examples/desk && OCAMLPATH="$prefix/lib" PATH="$prefix/bin:$PATH" \
        dune build --root . ./ocaml/desk_run.exe ./ocaml/desk_check.exe 2>&1)
    ml_line="$(examples/desk/_build/default/ocaml/desk_run.exe)"
    echo "  desk_run.exe:       $ml_line"
    examples/desk/_build/default/ocaml/desk_check.exe > /dev/null
    echo "  desk_check.exe:     ok"
    agree "desk_run.exe" "$ml_line"
elif [ "${DESK_REQUIRE_OCAML:-0}" = 1 ]; then
    echo "error: (c) needs dune and ocamlopt (Debian: apt-get install ocaml-nox ocaml-dune)" >&2
    exit 1
else
    echo "  skipped: dune or ocamlopt is not installed (Debian: ocaml-nox ocaml-dune)"
fi

echo "desk: the C program hosting the Rust engine (the desk's actor library)"
cargo build -q --release -p desk-cabi
cc -std=c11 -Wall -Wextra -Werror -o target/desk/desk_check_c examples/desk/c/desk_check.c \
    -I bindings/ffi/include target/release/libdesk_cabi.a -lpthread -ldl -lm
target/desk/desk_check_c "$(cargo run -q -p mycelium-codegen -- digest examples/desk/desk.yaml)"

echo "desk: (d) split over examples/desk/split-unix.toml (engine and strategy nodes)"
MYCELIUM_DESK_SECRET="$(head -c 32 /dev/urandom | base64)"
export MYCELIUM_DESK_SECRET
rm -rf target/desk/sockets
split=(--topology examples/desk/split-unix.toml --node)
target/debug/desk-host "$stage" "${split[@]}" engine > target/desk/engine.out &
engine=$!
if ! strategy_line="$(target/debug/desk-host "$stage" "${split[@]}" strategy)"; then
    kill "$engine" 2> /dev/null || true
    wait "$engine" 2> /dev/null || true
    echo "error: the strategy node failed" >&2
    exit 1
fi
wait "$engine"
engine_line="$(cat target/desk/engine.out)"
echo "  strategy node:      $strategy_line"
echo "  engine node:        $engine_line"
agree "the strategy node" "$strategy_line"
agree "the engine node" "$engine_line"
echo "desk: every direction prints the same result"
