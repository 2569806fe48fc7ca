#!/usr/bin/env bash
# Show that the chaos checkers can fail: for each sabotage patch in chaos-tests/sabotage/,
# copy the tree to a temporary directory, apply the patch, build bootd and bootctl there,
# run the scenario the patch names (its `# scenario:` line, or the default below) with the
# sabotaged binaries, and expect the scenario to FAIL with an invariant violation.
#
#   scripts/broken-build-check.sh [PATCH...]        (root; build the chaos binary first:
#                                                   cargo build -p chaos-tests --bin chaos)
#
# Exit 0 when every sabotaged build was caught, 1 when one passed its scenario.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
CHAOS="$ROOT/target/debug/chaos"
[ -x "$CHAOS" ] || { echo "build the chaos binary first: cargo build -p chaos-tests --bin chaos" >&2; exit 2; }
patches=("$@")
[ ${#patches[@]} -gt 0 ] || patches=(chaos-tests/sabotage/*.patch)

scenario_for() {
    case "$(basename "$1")" in
        vip-*) echo leader-partition-minority ;;
        dhcp-*) echo leader-kill-storm ;;
        *) echo leader-kill-storm ;;
    esac
}

caught=0
missed=0
for patch in "${patches[@]}"; do
    tmp=$(mktemp -d -t raftboot-sabotage-XXXXXX)
    trap 'rm -rf "$tmp"' EXIT
    echo "=== sabotage: $patch"
    git ls-files -z | xargs -0 cp --parents -t "$tmp"
    (cd "$tmp" && git apply -p1 "$ROOT/$patch")
    # Reuse the compiled dependencies (hard links; cargo writes new artifacts for the
    # copied workspace crates, whose paths differ, and never rewrites fresh ones).
    mkdir -p "$tmp/target/debug"
    for d in deps build .fingerprint; do
        [ -d "$ROOT/target/debug/$d" ] && cp -al "$ROOT/target/debug/$d" "$tmp/target/debug/$d"
    done
    (cd "$tmp" && cargo build -q -p raftboot --bins)
    scenario=$(scenario_for "$patch")
    echo "=== running scenario $scenario against the sabotaged bootd"
    set +e
    RAFTBOOT_BIN_DIR="$tmp/target/debug" "$CHAOS" run "$scenario" --seed 7 >"$tmp/report.txt" 2>"$tmp/stderr.txt"
    rc=$?
    set -e
    sed -n '/^chaos scenario/,$p' "$tmp/report.txt" | grep -E '^chaos scenario|FAIL|^boots' || true
    grep -A8 'VIOLATION in' "$tmp/stderr.txt" || true
    if [ $rc -eq 1 ]; then
        echo "=== caught: $scenario FAILED against $patch (exit $rc)"
        caught=$((caught + 1))
    else
        echo "=== NOT caught: $scenario exited $rc against $patch"
        tail -20 "$tmp/stderr.txt"
        missed=$((missed + 1))
    fi
    rm -rf "$tmp"
    trap - EXIT
done
echo "sabotaged builds caught: $caught, missed: $missed"
[ $missed -eq 0 ]
