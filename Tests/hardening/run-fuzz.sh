#!/usr/bin/env bash
# run-fuzz.sh [SECONDS] — build the libFuzzer targets with AddressSanitizer
# (Swift engine and C kernels both instrumented), replay every committed
# regression input, then fuzz each target for SECONDS (default 60) from the
# seeds (make_seeds.py) and its working corpus. Any crash, sanitizer report,
# timeout or OOM fails the run; the input lands in build/fuzz/findings/TARGET/.
# A fixed finding is committed to Tests/hardening/regressions/TARGET/.
#   FUZZ_TARGETS="gguf json"  fuzz a subset       FUZZ_JOBS=N  parallel workers per target
#   FUZZ_RUNS=N  stop a target after N executions (SECONDS stays the time limit):
#   FUZZ_RUNS=1000000 make fuzz FUZZ_SECONDS=14400 is the README's long run
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_PER_TARGET=${1:-60}
TARGETS=${FUZZ_TARGETS:-"gguf hf json tokenizer"}
SWIFT=${SWIFT:-swift}
OUT=build/fuzz
SCRATCH=.build-hardening-fuzz

# Optimised (-c release: 5-10x the executions of a debug build) with debug info
# for the reports; lld: gold fails on the instrumented objects' debug info.
FLAGS=(-c release -Xswiftc -g -Xswiftc -sanitize=fuzzer,address -Xswiftc -Xclang-linker -Xswiftc -fuse-ld=lld -Xcc -fsanitize=address)
for t in $TARGETS; do
    $SWIFT build --package-path Tests/hardening --scratch-path "$SCRATCH" --product "fuzz-$t" "${FLAGS[@]}" >/dev/null
done
BIN=$($SWIFT build --package-path Tests/hardening --scratch-path "$SCRATCH" "${FLAGS[@]}" --show-bin-path)

[ -d "$OUT/seeds/gguf" ] || ${PYTHON:-python3} Tests/hardening/make_seeds.py "$OUT/seeds" >/dev/null

export SWIFT_BACKTRACE=enable=no OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
# malloc_context_size: five frames per allocation (of 30): unwinding at every malloc
# was a third of fuzz-hf's time. A crash still prints its whole stack.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:allocator_may_return_null=1:malloc_context_size=5}
export RTX_FUZZ_MODELS=$PWD/.models
status=0
printf '%-10s %12s %10s %8s  %s\n' target executions exec/s findings regressions
for t in $TARGETS; do
    rm -rf "$OUT/findings/$t"; mkdir -p "$OUT/corpus/$t" "$OUT/findings/$t"
    log="$OUT/fuzz-$t.log"
    regressions=(Tests/hardening/regressions/$t/*)
    replayed=0
    if [ -e "${regressions[0]}" ]; then
        "$BIN/fuzz-$t" -runs=0 "${regressions[@]}" >"$OUT/replay-$t.log" 2>&1 || { echo "fuzz-$t: a regression input fails again ($OUT/replay-$t.log)"; status=1; }
        replayed=${#regressions[@]}
    fi
    # -rss_limit_mb: a model that loads is small; more is an amplification finding.
    case $t in tokenizer) max_len=4096 ;; json) max_len=65536 ;; *) max_len=400000 ;; esac
    # One worker runs in-process (its stats land in $log); N workers write fuzz-J.log
    # in the current folder, so two runs of this script must not share one with FUZZ_JOBS > 1.
    parallel=()
    [ "${FUZZ_JOBS:-1}" -gt 1 ] && parallel=(-jobs="$FUZZ_JOBS" -workers="$FUZZ_JOBS")
    "$BIN/fuzz-$t" -max_total_time="$SECONDS_PER_TARGET" -runs="${FUZZ_RUNS:--1}" -timeout=20 -rss_limit_mb=3072 -max_len=$max_len \
        -print_final_stats=1 -artifact_prefix="$OUT/findings/$t/" "${parallel[@]}" \
        "$OUT/corpus/$t" "$OUT/seeds/$t" >"$log" 2>&1 || true
    # With -jobs, libFuzzer copies each worker's fuzz-J.log into $log as the worker
    # exits, so $log alone holds every worker's stats (summed: all executions, combined rate).
    execs=$(awk '/stat::number_of_executed_units/ {n += $2} END {print n + 0}' "$log")
    rate=$(awk '/stat::average_exec_per_sec/ {n += $2} END {print n + 0}' "$log")
    # crash-, timeout-, oom-, leak- files; slow-unit- files (> 10 s, e.g. a stalled machine) are not findings.
    findings=$(find "$OUT/findings/$t" -type f ! -name 'slow-unit-*' | wc -l)
    printf '%-10s %12s %10s %8s  %s\n' "$t" "$execs" "$rate" "$findings" "$replayed"
    if [ "$findings" -gt 0 ]; then
        status=1
        grep -m1 -E "ERROR: |Fatal error|deadly signal|SUMMARY" "$log" | sed "s/^/  fuzz-$t: /" || true
        echo "  inputs: $OUT/findings/$t/  log: $log"
    fi
done
[ "${FUZZ_JOBS:-1}" -gt 1 ] && rm -f fuzz-*.log
exit $status
