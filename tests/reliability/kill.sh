#!/usr/bin/env bash
# kill.sh: kill -9 a close or a pay run at every write, fsync and rename,
# rerun it, and require the books a run that never crashed would have left.
#
#   PAYRUN=... BUILD=... SRC=... bash tests/reliability/kill.sh --quick|--full
#
# For each scenario (see common.sh: demo, recalc, pay, and gen when
# PAYRUN_GEN is set, full mode only) a clean run gives the reference state
# and `strace -c` counts its write, pwrite64, fsync, fdatasync, rename and
# renameat calls. Then for each syscall and each occurrence N (quick: a
# sample; full: all) the run under test (the close; in the pay scenario
# the pay run) runs on a fresh copy under
#   strace -f -e inject=SYSCALL:signal=SIGKILL:when=N
# which kills it as it enters its N-th such call, the run goes again
# normally (it must succeed) and the end state must equal the reference
# (common.sh: canon, check_converged). A pay run killed after its commit
# has moved its payouts to processing, so its rerun pays nothing and adds
# only its own run row and event; the end state may be that too, and
# nothing else (no second bank file, no payout paid twice, no file lost).
# The gen scenario makes thousands of writes, so there about GEN_CAP (40)
# occurrences of each syscall, evenly spread, are killed, not all. Then
# kills at random times with `timeout -s KILL`, spread over the clean
# run's wall time: until 200 runs of the demo close and 100 each of the
# recalc close and the pay run were killed in full mode, 10 and 5 in quick
# mode (the same draws for the same KILL_SEED).
#
# Options by environment: KILL_SYSCALLS (comma-separated, to narrow or
# widen the list), KILL_SEED, QUICK_CAP (most points per syscall in quick
# mode, default 20), GEN_CAP, RANDOM_KILLS (random kills of the demo
# close; the recalc close and the pay run get half as many each).
. "$(dirname "$0")/common.sh"

SYSCALLS=${KILL_SYSCALLS:-write,pwrite64,fsync,fdatasync,rename,renameat}
SEED=${KILL_SEED:-7}
GEN_CAP=${GEN_CAP:-40}
if [ "$MODE" = full ]; then
  N_RANDOM=${RANDOM_KILLS:-200}
  N_RANDOM_RECALC=$(( N_RANDOM / 2 ))
  SCENARIOS="demo recalc pay"
  [ -n "${PAYRUN_GEN:-}" ] && SCENARIOS="$SCENARIOS gen"
else
  N_RANDOM=${RANDOM_KILLS:-10}
  N_RANDOM_RECALC=$(( N_RANDOM / 2 ))
  SCENARIOS="demo recalc pay"
fi
NOT_KILLED=0
LEFT_TMP=0

# prepare SCN: the template, the reference state and the syscall counts
prepare() {
  local scn=$1 tpl="$R/tpl-$1" ref="$R/ref-$1" again="$R/again-$1" rc
  CUR_SCN=$scn
  setup_scenario "$scn" "$tpl" || { echo "scenario $scn: setup failed" >&2; exit 2; }
  cp -a "$tpl" "$ref"
  payrun_in "$ref" $(run_args) >"$ref/close.out" 2>&1; rc=$?
  if [ $rc -ne 0 ]; then echo "scenario $scn: the clean run failed (exit $rc):" >&2; cat "$ref/close.out" >&2; exit 2; fi
  canon "$ref" "$R/ref-$scn.txt"
  prepare_again "$scn" "$ref"
  # the comparison means something only if two clean runs agree
  cp -a "$tpl" "$again"
  payrun_in "$again" $(run_args) >/dev/null 2>&1
  canon "$again" "$R/again-$scn.txt"
  if ! cmp -s "$R/ref-$scn.txt" "$R/again-$scn.txt"; then
    echo "scenario $scn: two clean runs differ; the reference is not reproducible:" >&2
    diff "$R/ref-$scn.txt" "$R/again-$scn.txt" | head -20 >&2
    exit 2
  fi
  rm -rf "$again"
  count_syscalls "$tpl" "$SYSCALLS" >"$R/counts-$scn" || exit 2
  echo "scenario $scn: reference: $(grep -c '^INSERT INTO payouts' "$R/ref-$scn.txt") payouts," \
       "$(sed -n '/^== files/,$p' "$R/ref-$scn.txt" | grep -c ' out/') files;" \
       "a clean run makes $(counts_line "$R/counts-$scn")"
}

# after_kill DIR SCN: what every killed case checks
after_kill() {
  local d=$1 scn=$2 krc=$3
  if [ "$krc" -ne 137 ]; then
    NOT_KILLED=$((NOT_KILLED + 1))
    echo "note: $CASE_LABEL: the close was not killed (exit $krc)"
  fi
  check_no_crash "$d/kill.err" "the killed run"
  if [ -n "$(find "$d/out" -name '*.tmp-*' 2>/dev/null)" ]; then LEFT_TMP=$((LEFT_TMP + 1)); fi
  rerun "$d"
  check_converged "$d" "$scn" "$R/ref-$scn.txt"
}

kill_at() { # SCN SYSCALL N
  local scn=$1 sys=$2 n=$3 d="$R/case" krc
  CUR_SCN=$scn
  rm -rf "$d"; cp -a "$R/tpl-$scn" "$d"
  case_begin "$scn kill at $sys #$n" "$scn: kill at $sys" "$d"
  # (the braces keep bash's "Killed" notice off the report)
  { TMPDIR="$d/tmp" traced -f -o /dev/null -e trace="$sys" -e inject="$sys:signal=SIGKILL:when=$n" \
      "$PAYRUN" $(run_args) --config "$d/config/demo.yaml" >"$d/kill.out" 2>"$d/kill.err"; } 2>/dev/null
  krc=$?
  after_kill "$d" "$scn" "$krc"
  case_end
}

# The clean run's wall time in microseconds (the median of 5), to
# spread random kills over it.
close_us() {
  local scn=$1 d="$R/timing" i t0 t1
  CUR_SCN=$scn
  for i in 1 2 3 4 5; do
    rm -rf "$d"; cp -a "$R/tpl-$scn" "$d"
    t0=$(date +%s%N)
    payrun_in "$d" $(run_args) >/dev/null 2>&1
    t1=$(date +%s%N)
    echo $(( (t1 - t0) / 1000 ))
  done | sort -n | sed -n 3p
}

# kill_random SCN COUNT: runs killed at a time drawn uniformly over the
# clean run's wall time, until COUNT of them were killed before they
# ended (at most 3 x COUNT runs). Every run, killed or not, is a case.
kill_random() {
  local scn=$1 count=$2 us d="$R/case" krc i=0 k=0 delay
  CUR_SCN=$scn
  us=$(close_us "$scn")
  RANDOM=$SEED
  echo "scenario $scn: $count kills at random times in 0..$((us / 1000)).$(printf '%03d' $((us % 1000 / 1))) ms (the median clean run; seed $SEED)"
  while [ "$k" -lt "$count" ] && [ "$i" -lt $((3 * count)) ]; do
    i=$((i + 1))
    delay=$(( (RANDOM * 32768 + RANDOM) % us + 1 ))
    rm -rf "$d"; cp -a "$R/tpl-$scn" "$d"
    case_begin "$scn random kill #$i at $(printf '%d.%03d' $((delay / 1000)) $((delay % 1000))) ms" \
      "$scn: kill at a random time" "$d"
    { TMPDIR="$d/tmp" timeout -s KILL "$(printf '%d.%06d' $((delay / 1000000)) $((delay % 1000000)))" \
        "$PAYRUN" $(run_args) --config "$d/config/demo.yaml" >"$d/kill.out" 2>"$d/kill.err"; } 2>/dev/null
    krc=$?
    [ $krc -eq 137 ] && k=$((k + 1))
    check_no_crash "$d/kill.err" "the killed run"
    [ $krc -eq 0 ] || [ $krc -eq 137 ] || problem "killed run: exit $krc: $(head -1 "$d/kill.err")"
    if [ -n "$(find "$d/out" -name '*.tmp-*' 2>/dev/null)" ]; then LEFT_TMP=$((LEFT_TMP + 1)); fi
    rerun "$d"
    check_converged "$d" "$scn" "$R/ref-$scn.txt"
    case_end
  done
  echo "scenario $scn: $k runs killed at a random time, $((i - k)) more ended before their kill"
}

echo "kill.sh --$MODE: $PAYRUN"
for scn in $SCENARIOS; do
  prepare "$scn"
  while read -r sys count; do
    # the generated close makes thousands of writes: a spread of them
    if [ "$scn" = gen ]; then pts=$(points "$count" "$GEN_CAP"); else pts=$(points "$count"); fi
    for n in $pts; do kill_at "$scn" "$sys" "$n"; done
  done <"$R/counts-$scn"
done
kill_random demo "$N_RANDOM"
kill_random recalc "$N_RANDOM_RECALC"
kill_random pay "$N_RANDOM_RECALC"

print_figures "kill -9 at every step, then rerun"
echo "killed runs that left a *.tmp-* file behind them (before the rerun): $LEFT_TMP"
[ "$NOT_KILLED" -eq 0 ] || echo "points where the injected kill was not reached: $NOT_KILLED"
echo "pay runs whose rerun paid nothing (the killed run had committed): $RERUN_PAID_NOTHING"
finish
