#!/usr/bin/env bash
# ioerr.sh: fail the writes and fsyncs of a close or a pay run with EIO and
# ENOSPC, one at a time; payrun must stop with a clear message, and the
# rerun must converge.
#
#   PAYRUN=... BUILD=... SRC=... bash tests/reliability/ioerr.sh --quick|--full
#
# For each scenario (see common.sh: demo and recalc, whose run under test
# is the close, and pay, whose run under test is the pay run) a clean run
# gives the reference state and `strace -c` counts its write, pwrite64,
# fsync and fdatasync calls, and its renames (an output put in place after
# the commit). Then for each syscall, each error (EIO, ENOSPC) and each
# occurrence N (quick: a sample; full: all) the run under test runs on a
# fresh copy under
#   strace -f -e inject=SYSCALL:error=ERR:when=N
# and must
#   - exit non-zero, not by a signal, with no sanitizer report, and say so
#     on stderr in one line, "payrun: ...", naming the I/O error (the
#     errno's text or SQLite's), with at most one "hint: ..." line after it;
#     the messages are listed at the end with how often each was seen;
#   - or, if it exits 0, have already left the reference state (an error
#     that payrun may rightly absorb, such as a failed checkpoint after the
#     commit); such points are listed as absorbed;
# then the run goes again normally and must succeed and converge to the
# reference state (common.sh: check_converged). A run that reported an
# error may still have committed (a COMMIT whose WAL frames reached the
# file though its fsync failed): those points are listed, and the rerun
# must then add nothing: a close finds the period's payouts by their
# natural key (3 payouts for the demo January, one committed run, one
# event each); a pay run finds its payouts in processing, pays nothing and
# writes no bank file, and the bank files the committed run wrote must be
# in place. To make that case happen on purpose, each fdatasync also fails
# and the run is then killed before it closes the database
# (error_then_kill).
#
# Options by environment: IOERR_SYSCALLS, IOERR_ERRORS (default "EIO ENOSPC"),
# QUICK_CAP (most points per syscall and error in quick mode, default 20).
. "$(dirname "$0")/common.sh"

SYSCALLS=${IOERR_SYSCALLS:-write,pwrite64,fsync,fdatasync,rename}
ERRORS=${IOERR_ERRORS:-EIO ENOSPC}
SCENARIOS="demo recalc pay"
declare -A MSG_COUNT=() MSG_FIRST=()
ABSORBED=()
ABSORBED_PENDING=()
# a canonical state without its pending_outputs count
no_pending() { sed '/^== outputs waiting for their rename$/{N;d}' "$1"; }
COMMITTED=()

prepare() {
  local scn=$1 tpl="$R/tpl-$1" ref="$R/ref-$1" rc
  CUR_SCN=$scn
  setup_scenario "$scn" "$tpl" || { echo "scenario $scn: setup failed" >&2; exit 2; }
  cp -a "$tpl" "$ref"
  payrun_in "$ref" $(run_args) >"$ref/close.out" 2>&1; rc=$?
  if [ $rc -ne 0 ]; then echo "scenario $scn: the clean run failed (exit $rc):" >&2; cat "$ref/close.out" >&2; exit 2; fi
  canon "$ref" "$R/ref-$scn.txt"
  prepare_again "$scn" "$ref"
  count_syscalls "$tpl" "$SYSCALLS" >"$R/counts-$scn" || exit 2
  echo "scenario $scn: a clean run makes $(counts_line "$R/counts-$scn")"
}

# the committed runs of the period in a workspace (of the pipeline under test)
close_runs() {
  local n
  n=$(query_raw "$1" "SELECT count(*) FROM runs WHERE pipeline = '$(run_pipeline)' AND period = '$PERIOD' AND outcome = 'ok'")
  case "$n" in ''|*[!0-9]*) echo 0 ;; *) echo "$n" ;; esac # no database or no schema yet: none
}

# check_message DIR RC: what the failing run said
check_message() {
  local d=$1 rc=$2 first key nl others
  first=$(grep -m1 . "$d/err.err")
  nl=$(grep -c . "$d/err.err")
  others=$(grep . "$d/err.err" | tail -n +2 | grep -vc '^hint: ')
  # normalised, to count the messages seen
  key="exit $rc: $(grep . "$d/err.err" | sed -e "s|$d|<ws>|g" -e 's/tmp-[0-9]*/tmp-<pid>/g' \
        -e 's/payrun-discard-[A-Za-z0-9]*/payrun-discard-<x>/g' | tr '\n' '\001' | sed 's/\x01$//; s/\x01/ | /g')"
  MSG_COUNT[$key]=$(( ${MSG_COUNT[$key]:-0} + 1 ))
  [ -n "${MSG_FIRST[$key]:-}" ] || MSG_FIRST[$key]=$CASE_LABEL
  if [ "$nl" -eq 0 ]; then
    problem "unclear message: exit $rc with nothing on stderr"
    return
  fi
  case "$first" in
    "payrun: "*) ;;
    *) problem "unclear message: the first line is not \"payrun: ...\": $(echo "$first" | cut -c1-200)" ;;
  esac
  [ "$others" -eq 0 ] || problem "unclear message: $nl lines on stderr, not one message and a hint: $(grep . "$d/err.err" | tr '\n' '|' | cut -c1-300)"
  [ "$(grep -c '^hint: ' "$d/err.err")" -le 1 ] || problem "unclear message: more than one hint"
  echo "$first" | grep -qE 'No space left on device|Input/output error|disk I/O error|database or disk is full|I/O error' ||
    problem "unclear message: it does not name the I/O error: $(echo "$first" | cut -c1-200)"
}

fail_at() { # SCN SYSCALL ERR N
  local scn=$1 sys=$2 e=$3 n=$4 d="$R/case" rc before after
  CUR_SCN=$scn
  rm -rf "$d"; cp -a "$R/tpl-$scn" "$d"
  case_begin "$scn $e at $sys #$n" "$scn: $sys $e" "$d"
  before=$(close_runs "$d")
  { TMPDIR="$d/tmp" traced -f -o /dev/null -e trace="$sys" -e inject="$sys:error=$e:when=$n" \
      "$PAYRUN" $(run_args) --config "$d/config/demo.yaml" >"$d/err.out" 2>"$d/err.err"; } 2>/dev/null
  rc=$?
  check_no_crash "$d/err.err" "the failing run"
  if [ $rc -ge 128 ]; then
    problem "crash: the run died of signal $((rc - 128)): $(head -2 "$d/err.err" | tr '\n' ' ')"
  elif [ $rc -eq 0 ]; then
    canon "$d" "$d/canon-now.txt"
    if cmp -s "$R/ref-$scn.txt" "$d/canon-now.txt" && [ -z "$(find "$d/out" -name '*.tmp-*')" ]; then
      ABSORBED+=("$CASE_LABEL")
    elif cmp -s <(no_pending "$R/ref-$scn.txt") <(no_pending "$d/canon-now.txt") &&
         [ -z "$(find "$d/out" -name '*.tmp-*')" ]; then
      # everything in place; only the row that says an output still waits
      # for its rename is left (its DELETE failed), for the next run to clear
      ABSORBED_PENDING+=("$CASE_LABEL: $(sed -n '/^== outputs waiting for their rename$/{n;p}' "$d/canon-now.txt") row(s) left")
    else
      problem "silent failure: exit 0, but the state is not the reference: $(diff "$R/ref-$scn.txt" "$d/canon-now.txt" | grep -m1 '^[<>]' | cut -c1-200)"
    fi
    [ -s "$d/err.out" ] || problem "exit 0 though its stdout write failed: the summary was lost and nothing was said on stderr"
  else
    check_message "$d" "$rc"
    after=$(close_runs "$d")
    if [ "$after" != "$before" ]; then
      COMMITTED+=("$CASE_LABEL (exit $rc, runs $before -> $after): $(head -1 "$d/err.err" | sed "s|$d|<ws>|g" | cut -c1-160)")
    fi
  fi
  rerun "$d"
  check_converged "$d" "$scn" "$R/ref-$scn.txt"
  case_end
}

# The issue's case: a COMMIT that reports an error may still have
# committed. payrun closes the database after a failed COMMIT, and SQLite's
# close then drops the WAL frames it could not sync, so a run that lives on
# really did not commit; but a run that dies before that close (a crash, a
# kill, a power cut after the kernel wrote the frames) leaves them in the
# WAL, and the next open recovers them: committed after all. payrun removes
# its temporary outputs only after that close, so a run that dies first
# leaves them, and the next run puts them in place if the commit was
# recovered (for a pay run, its bank file) or removes them as stale if it
# was not. So: the error at fdatasync N, and a SIGKILL at the first close()
# after it, which is the database's. Every fdatasync, both modes.
closes_before() { # SCN: for each fdatasync of a clean run, the close()s made before it
  local d="$R/trace-$1"
  CUR_SCN=$1
  rm -rf "$d"; cp -a "$R/tpl-$1" "$d"
  TMPDIR="$d/tmp" traced -f -o "$d/trace" -e trace=fdatasync,close \
    "$PAYRUN" $(run_args) --config "$d/config/demo.yaml" >/dev/null 2>&1
  awk '/ close\(/ { c++ } / fdatasync\(/ { print c + 0 }' "$d/trace"
}

error_then_kill() { # SCN ERR N K
  local scn=$1 e=$2 n=$3 k=$4 d="$R/case" rc before after left
  CUR_SCN=$scn
  rm -rf "$d"; cp -a "$R/tpl-$scn" "$d"
  case_begin "$scn $e at fdatasync #$n, killed at close #$k" "$scn: fdatasync $e, then kill" "$d"
  before=$(close_runs "$d")
  { TMPDIR="$d/tmp" traced -f -o "$d/trace" -e trace=fdatasync,close,unlink \
      -e inject="fdatasync:error=$e:when=$n" -e inject="close:signal=SIGKILL:when=$k" \
      "$PAYRUN" $(run_args) --config "$d/config/demo.yaml" >"$d/err.out" 2>"$d/err.err"; } 2>/dev/null
  rc=$?
  check_no_crash "$d/err.err" "the failing run"
  after=$(close_runs "$d")
  # Killed before it closed the database: no temporary output may be gone
  # yet (payrun removes them only once the database is closed).
  if [ $rc -eq 137 ] && grep -q 'fdatasync(.*= -1' "$d/trace"; then
    FAILED_KILLED=$((FAILED_KILLED + 1))
    if grep -q 'unlink(.*\.tmp-[0-9]*")' "$d/trace"; then
      problem "a temporary output was removed before the database was closed"
    fi
  fi
  left=$(find "$d/out" -name '*.tmp-*' | wc -l)
  rerun "$d"
  if [ $rc -eq 137 ] && grep -q 'fdatasync(.*= -1' "$d/trace" && [ "$after" != "$before" ]; then
    COMMITTED_KILLED+=("$CASE_LABEL: committed (runs $before -> $after), $left temporary outputs left; the rerun said: $(head -1 "$d/rerun.err" | cut -c1-160)")
    if [ "$left" -gt 0 ] && ! grep -q '^payrun: put .* in place: run [0-9]* committed it' "$d/rerun.err"; then
      problem "the committed run's temporary outputs were not put in place by the rerun"
    fi
  fi
  check_converged "$d" "$scn" "$R/ref-$scn.txt"
  case_end
}
COMMITTED_KILLED=()
FAILED_KILLED=0

echo "ioerr.sh --$MODE: $PAYRUN"
for scn in $SCENARIOS; do
  prepare "$scn"
  while read -r sys count; do
    for e in $ERRORS; do
      for n in $(points "$count"); do fail_at "$scn" "$sys" "$e" "$n"; done
    done
  done <"$R/counts-$scn"
  n=0
  for c in $(closes_before "$scn"); do
    n=$((n + 1))
    for e in $ERRORS; do error_then_kill "$scn" "$e" "$n" $((c + 1)); done
  done
done

print_figures "EIO and ENOSPC at every write, fsync and rename, then rerun"
echo
echo "messages seen (count, first case: exit code and stderr, | between lines):"
while IFS= read -r k; do
  printf '  %4d  %s: %s\n' "${MSG_COUNT[$k]}" "${MSG_FIRST[$k]}" "$k"
done < <(printf '%s\n' "${!MSG_COUNT[@]}" | LC_ALL=C sort)
echo
echo "errors absorbed (exit 0 with the reference state already reached): ${#ABSORBED[@]}"
for a in "${ABSORBED[@]}"; do echo "  $a"; done
echo "errors absorbed, but a pending_outputs row was left for the next run to clear: ${#ABSORBED_PENDING[@]}"
for a in "${ABSORBED_PENDING[@]}"; do echo "  $a"; done
echo "runs that exited with an error after their commit (the rerun found the payouts): ${#COMMITTED[@]}"
for a in "${COMMITTED[@]}"; do echo "  $a"; done
echo "runs killed after a failed fdatasync, before closing the database: $FAILED_KILLED; of them committed after all: ${#COMMITTED_KILLED[@]}"
for a in "${COMMITTED_KILLED[@]}"; do echo "  $a"; done
finish
