#!/usr/bin/env bash
# Runs the cargo-fuzz targets in fuzz/ for a fixed time each and reports.
#
#   scripts/fuzz.sh                 # every target, FUZZ_SECONDS each
#   scripts/fuzz.sh packet          # only the named targets
#   FUZZ_SECONDS=60 scripts/fuzz.sh
#
# Environment:
#   FUZZ_SECONDS    seconds per target (default 600)
#   FUZZ_SANITIZER  address (default) or none; none runs faster but only
#                   catches panics, not memory errors in unsafe code
#
# Only a stable toolchain is assumed. cargo-fuzz passes nightly-only -Z flags
# to rustc; RUSTC_BOOTSTRAP=1 makes stable rustc accept them.
#
# Exit status: 0 if every target ran its time without a finding, 1 otherwise.
# Findings are saved under fuzz/artifacts/<target>/; logs under
# fuzz/artifacts/logs/.

set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

seconds="${FUZZ_SECONDS:-600}"
sanitizer="${FUZZ_SANITIZER:-address}"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz not found; installing it" >&2
    cargo install cargo-fuzz --locked
fi

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi
if [ "${#targets[@]}" -eq 0 ]; then
    echo "no fuzz targets found in fuzz/" >&2
    exit 1
fi

echo "building ${targets[*]} (sanitizer: $sanitizer)"
for target in "${targets[@]}"; do
    cargo fuzz build --sanitizer "$sanitizer" "$target"
done

logs="fuzz/artifacts/logs"
mkdir -p "$logs"
summary=()
failed=0
for target in "${targets[@]}"; do
    corpus="fuzz/corpus/$target"
    seeds="fuzz/seeds/$target"
    mkdir -p "$corpus"
    corpora=("$corpus")
    if [ -d "$seeds" ]; then
        corpora+=("$seeds")
    fi
    log="$logs/$target.log"
    echo "fuzzing $target for ${seconds}s (log: $log)"
    set +e
    cargo fuzz run --sanitizer "$sanitizer" "$target" "${corpora[@]}" -- \
        -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1
    rc=$?
    set -e
    runs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" |
        awk '{ s += $2 } END { print s + 0 }')"
    size="$(find "$corpus" -type f | wc -l)"
    if [ "$rc" -eq 0 ]; then
        result="ok"
    else
        result="FAILED (exit $rc)"
        failed=1
        tail -n 40 "$log" >&2
    fi
    summary+=("$(printf '%-16s %-18s %12s execs %7s corpus files' \
        "$target" "$result" "$runs" "$size")")
done

echo
echo "fuzz summary (${seconds}s per target, sanitizer: $sanitizer)"
printf '%s\n' "${summary[@]}"
if [ "$failed" -ne 0 ]; then
    echo "findings, if any, are in fuzz/artifacts/<target>/" >&2
fi
exit "$failed"
