#!/usr/bin/env bash
# tests/fuzz/run.sh [SECONDS]: build the libFuzzer harnesses and run each
# for SECONDS (default 10), printing per target the runs done, the speed,
# the coverage reached and "no crash" or the crash file. Exits non-zero on
# any crash, leak, timeout or out-of-memory.
#
#   tests/fuzz/run.sh          # 10 s a target, about a minute in all
#   tests/fuzz/run.sh 15       # what scripts/test.sh (CI) runs
#   tests/fuzz/run.sh 300      # the long run: 5 minutes a target
#
# Before fuzzing, the config loader and the CSV importer are given hostile
# files too large for the fuzzer to make (a 10^20 alias bomb, nesting a
# million deep, 200000 nodes, a 17 MiB file, a quote left open over 5 MiB,
# 50000 rows, ...), each once, under the same memory limit: their
# bounds must hold on them.
#
# Each target fuzzes a working corpus under build-fuzz/fuzz/<target>/,
# seeded from tests/fuzz/corpus/<target>/ (never written to), so a later
# run on the same build directory goes on from where the last one got.
# Inputs saved under tests/fuzz/crashes/<target>/ are run first as seeds: a
# crash found once stays a failure until it is fixed.
#
# Needs clang with libFuzzer (Debian: apt-get install clang
# libclang-rt-14-dev). Environment: CC (default clang), FUZZ_BUILD_DIR
# (default build-fuzz at the top of the tree), RSS_LIMIT_MB (256).
set -euo pipefail

secs=${1:-10}
case $secs in
'' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 64 ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
rss=${RSS_LIMIT_MB:-256}
targets=(money config csv results)
limits=(-rss_limit_mb="$rss" -timeout=10)

cc=${CC:-clang}
if ! command -v "$cc" >/dev/null 2>&1; then
    echo "fuzz: $cc not found" >&2
    echo "hint: apt-get install -y clang libclang-rt-14-dev" >&2
    exit 69
fi

echo "== building the fuzzers in $build"
mkdir -p "$build"
CC=$cc cmake -S "$root" -B "$build" -DPAYRUN_FUZZ=ON -DPAYRUN_TESTS=OFF \
    -DCMAKE_BUILD_TYPE=Debug >"$build/fuzz-configure.log" 2>&1 ||
    { cat "$build/fuzz-configure.log" >&2; exit 1; }
cmake --build "$build" --target fuzzers -j "$(nproc 2>/dev/null || echo 2)" \
    >"$build/fuzz-build.log" 2>&1 || { tail -50 "$build/fuzz-build.log" >&2; exit 1; }
bin=$build/tests/fuzz
for t in "${targets[@]}"; do
    if [ ! -x "$bin/fuzz_$t" ]; then
        echo "fuzz: $bin/fuzz_$t was not built (is the compiler clang?)" >&2
        exit 1
    fi
done

failed=0
work=$build/fuzz
mkdir -p "$work"

# ---- bounds, on inputs too large to fuzz ------------------------------------

hostile=$work/hostile
rm -rf "$hostile"
mkdir -p "$hostile"
# The fuzzing's own limits. (A quote left open for 1 MiB once took 6-9 s
# here under ASan, libcsv growing the cell 128 bytes at a time; the
# importers now give libcsv 64 KiB blocks and it takes 0.2 s.) The time of
# each input is printed.
once_limits=(-rss_limit_mb="$rss" -timeout=10)
timer=()
if [ -x /usr/bin/time ]; then
    timer=(/usr/bin/time -f 'peak RSS %M KiB, %e s')
fi

# once TARGET FILE: run the harness on FILE alone, under the memory limit,
# and print its size, peak memory, time and what the code under test said.
once() {
    local t=$1 f=$2 name log verdict usage
    name=$(basename "$f")
    log=$hostile/$name.log
    if FUZZ_VERBOSE=1 ${timer[@]+"${timer[@]}"} "$bin/fuzz_$t" "${once_limits[@]}" \
        -artifact_prefix="$hostile/$name-" "$f" >"$log" 2>&1; then
        verdict=$(grep -m1 "^fuzz_$t: " "$log" | sed "s/^fuzz_$t: //; s|$fuzz_tmp/[^:]*|FILE|" |
            cut -c1-100)
        usage=$(grep -m1 '^peak RSS' "$log" || true)
        printf '  %-34s %6s KiB  ok  %s\n      %s\n' "$name" "$(($(stat -c %s "$f") / 1024))" \
            "$usage" "$verdict"
    else
        echo "  $name: FAILED (crash, OOM or timeout); log: $log"
        grep -m3 'ERROR\|SUMMARY\|property' "$log" | sed 's/^/    /' || true
        failed=1
    fi
}
fuzz_tmp=${TMPDIR:-/dev/shm}
[ -n "${TMPDIR:-}" ] || [ -w /dev/shm ] || fuzz_tmp=/tmp

head='version: 1
org: acme
currency: USD
database: var/acme.db
'
{
    # 20 levels of 10 aliases each: 10^20 nodes if aliases were expanded.
    printf '%s' "$head"
    printf 'a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n'
    for i in $(seq 1 19); do
        p="*a$((i - 1))"
        printf 'a%d: &a%d [%s, %s, %s, %s, %s, %s, %s, %s, %s, %s]\n' "$i" "$i" \
            "$p" "$p" "$p" "$p" "$p" "$p" "$p" "$p" "$p" "$p"
    done
    printf 'pipelines:\n  close: *a19\n'
} >"$hostile/alias-bomb.yaml"
{ printf '%s' "$head"; printf 'pipelines: '; head -c 1000000 /dev/zero | tr '\0' '['; echo; } \
    >"$hostile/deep-flow-1000000.yaml"
{ printf '%s' "$head"; printf 'pipelines: '
  head -c 500000 /dev/zero | tr '\0' '{' | sed 's/{/{a: /g'; echo; } \
    >"$hostile/deep-flow-map-500000.yaml"
{ printf '%s' "$head"; echo 'pipelines:'
  awk 'BEGIN { for (i = 1; i <= 3000; i++) printf "%*sk%d:\n", i, "", i }'; } \
    >"$hostile/deep-block-3000.yaml"
{ printf '%s' "$head"; printf 'actors:\n  alice: ['
  awk 'BEGIN { for (i = 0; i < 200000; i++) printf "preparer, "; print "payer]" }'
  printf 'pipelines:\n  close:\n    - { stage: s, plugin: p }\n'; } >"$hostile/nodes-200000.yaml"
{ printf '%s' "$head"
  printf 'pipelines:\n  close:\n    - stage: s\n      plugin: commission_rules\n      with:\n'
  awk 'BEGIN { for (i = 0; i < 49000; i++) printf "        k%d: v\n", i }'; } \
    >"$hostile/with-keys-49000.yaml"
{ printf '%s' "$head"; echo 'pipelines:'
  awk 'BEGIN { for (i = 0; i < 49000; i++) printf "  p%d: []\n", i }'; } \
    >"$hostile/pipelines-49000.yaml"
{ printf '%s' "$head"
  head -c $((15 * 1024 * 1024)) /dev/zero | tr '\0' 'x' | fold -w 1000 | sed 's/^/# /'
  printf '\npipelines: [\n'; } >"$hostile/comments-15MiB-then-error.yaml"
head -c $((17 * 1024 * 1024)) /dev/zero | tr '\0' '#' >"$hostile/over-16MiB.yaml"

csv_head='deal_id,deal_name,deal_status,closed_on,partner_id,model,percentage,attributed_amount,currency,product_line'
csv_row='D-9,ok,won,2026-02-03,P-001,equal_split,50,1.00,USD,x'
{ echo "$csv_head"; printf 'D-1,"never closed\n'
  awk 'BEGIN { for (i = 0; i < 100000; i++) printf "D-%d,x,won,2026-02-03,P-001,equal_split,50,1.00,USD,\n", i }'
  echo "$csv_row"; } >"$hostile/unclosed-quote-5MiB.csv"
{ echo "$csv_head"; head -c $((2 * 1024 * 1024)) /dev/zero | tr '\0' 'x'; echo; echo "$csv_row"; } \
    >"$hostile/line-2MiB.csv"
{ echo "$csv_head"
  awk 'BEGIN { for (i = 0; i < 50000; i++)
      printf "D-%d,=cmd|x,%s,2026-02-03,P-00%d,equal_split,50,%d.00,USD,\n", i,
             i % 3 ? "won" : "closed", i % 5 + 1, i }'; } >"$hostile/rows-50000.csv"
{ echo 'partner_id,name,type,tier,commission_rate,status,currency,email'
  awk 'BEGIN { for (i = 0; i < 30000; i++)
      printf "P-%d,n,affiliate,gold,1.5,active,USD,e@x\n", i % 20000 }'; } \
    >"$hostile/partners-30000-with-duplicates.csv"
{ seq -s, 1 5000; seq -s, 1 5000; } >"$hostile/columns-5000.csv"

echo "== bounds on inputs too large to fuzz (${once_limits[*]}, each once)"
for f in "$hostile"/*.yaml; do
    once config "$f"
done
for f in "$hostile"/*.csv; do
    once csv "$f"
done

# ---- fuzzing ------------------------------------------------------------------

echo "== fuzzing, $secs s a target (-rss_limit_mb=$rss -timeout=10)"
for t in "${targets[@]}"; do
    dir=$work/$t
    mkdir -p "$dir/corpus" "$dir/artifacts"
    rm -f "$dir"/artifacts/*
    cp -n "$here/corpus/$t"/* "$dir/corpus/" 2>/dev/null || true
    seeds=("$dir/corpus")
    if [ -d "$here/crashes/$t" ]; then
        seeds+=("$here/crashes/$t")
    fi
    log=$dir/fuzz.log
    rc=0
    # libFuzzer stops itself after max_total_time; the outer timeout only
    # guards against a hang in libFuzzer's own shutdown.
    timeout $((secs + 300)) "$bin/fuzz_$t" "${limits[@]}" -max_total_time="$secs" \
        -dict="$here/$t.dict" -print_final_stats=1 -artifact_prefix="$dir/artifacts/" \
        "${seeds[@]}" >"$log" 2>&1 || rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]* ft: [0-9]* corp: [0-9]*' "$log" | tail -1 || true)
    crash=$(find "$dir/artifacts" -type f | head -1)
    if [ "$rc" -eq 0 ] && [ -z "$crash" ]; then
        verdict="no crash"
    else
        verdict="CRASH (exit $rc): ${crash:-see $log}"
        failed=1
    fi
    printf '  fuzz_%-7s %8s runs  %6s/s  %-34s %s\n' "$t" "${runs:-?}" "${speed:-?}" \
        "${cov:-cov: ?}" "$verdict"
    if [ -n "$crash" ] || [ "$rc" -ne 0 ]; then
        grep -m5 'ERROR\|SUMMARY\|property failed' "$log" | sed 's/^/    /' || true
        echo "    log: $log"
        echo "    replay: $bin/fuzz_$t ${crash:-INPUT}"
    fi
done

if [ "$failed" -ne 0 ]; then
    echo "fuzz: FAILED; keep each crash input under tests/fuzz/crashes/<target>/ until fixed"
    exit 1
fi
echo "fuzz: all targets ran $secs s with no crash"
