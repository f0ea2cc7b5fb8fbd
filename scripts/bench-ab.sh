#!/usr/bin/env bash
# Alternating A/B runs of the benchmark at two commits, for a change to a hot path (the
# runner, the mailbox, the envelope): on a shared, noisy machine only runs taken in turn
# compare. Builds each commit once in a worktree of its own under target/ab/.
#
#   scripts/bench-ab.sh BASE_REV NEW_REV [PAIRS] -- [compare options]
#   scripts/bench-ab.sh HEAD~1 HEAD 3 -- --only w1,w4,w6 --frameworks mycelium --rounds 1
#
# Prints each run's result lines, labelled with the commit; read the pairs side by side.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ $# -lt 2 ]; then
    sed -n '2,9p' "$0"
    exit 2
fi
base=$1
new=$2
shift 2
pairs=3
if [ $# -gt 0 ] && [ "$1" != "--" ]; then
    pairs=$1
    shift
fi
[ "${1:-}" = "--" ] && shift
[ $# -gt 0 ] || set -- --only w1 --frameworks mycelium --rounds 1

root=$PWD/target/ab
mkdir -p "$root"
build() {
    local rev=$1 sha dir
    sha=$(git rev-parse --short "$rev")
    dir=$root/$sha
    if [ ! -x "$root/bench-$sha" ]; then
        rm -rf "$dir"
        git worktree add -f --detach "$dir" "$sha" >/dev/null
        CARGO_TARGET_DIR=$root/target cargo build --release -q -p mycelium-bench \
            --manifest-path "$dir/Cargo.toml"
        cp "$root/target/release/mycelium-bench" "$root/bench-$sha"
        git worktree remove --force "$dir"
    fi
    echo "$sha"
}
a=$(build "$base")
b=$(build "$new")
for i in $(seq 1 "$pairs"); do
    for sha in "$a" "$b"; do
        "$root/bench-$sha" compare "$@" 2>/dev/null | grep -v '^#' | sed "s/^/pair $i $sha: /"
    done
done
