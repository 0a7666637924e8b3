#!/usr/bin/env bash
# race.sh: payrun against itself. Commands that change the same books are
# started at the same instant (released together from a FIFO, some with a
# random delay so that one lands in each phase of the other), and the end
# state must be one that running them one after the other gives.
#
#   PAYRUN=... BUILD=... SRC=... bash tests/reliability/race.sh --quick|--full
#
# The races, each a fresh copy of a scenario (see common.sh):
#   close x2     two closes of the same period at once (demo: the first
#                close; recalc: a recalculation). Exactly one commits; the
#                other waits and finds nothing to do, or exits 75 saying the
#                database is busy (not before busy_timeout_ms is up, and
#                it is then run again, as a scheduler would, and must find
#                nothing to do). The end state must
#                equal one clean close's, byte for byte (common.sh: canon):
#                so one payout per natural key, one run, one event per move,
#                one copy of each event in audit.jsonl.
#   close x3     (full mode) the same with three closes.
#   close x2, busy_timeout_ms 0
#                the same with a config that does not wait for the write
#                lock: the close that does not get it must exit 75 with a
#                clear message, and run again find nothing to do. (Both
#                may be refused, each seeing the other's lock; the first
#                run again then does the work.)
#   approve || next close
#                `approve --all-pending --period 2026-01` while the close of
#                2026-02 runs.
#   approve || recalc
#                the same approval while 2026-01 is recalculated: whichever
#                commits first wins; approved first, the recalculation must
#                be refused (exit 65), never applied over approved payouts.
#   approve || reject
#                one approver approves a payout while another rejects it:
#                exactly one of the two moves happens.
#   pay || pay   two pay runs of the same period at once (common.sh's pay
#                scenario: two approved payouts with bank details). One
#                writes the bank files and moves both payouts to
#                processing; the other pays nothing. Each payout is moved
#                once and is in one bank file.
#   approve || pay
#                the approval that completes CloudBridge's while the pay
#                run runs (TechStar already approved): CloudBridge is in
#                this pay run's file or waits, approved, for the next;
#                never processing without a file, never in a file unpaid.
#   approvers    many approvers (20; full: 30) run `approve --all-pending`
#                at once on payouts that need 10 approvals each (the most
#                approval_rules allows), so half of them or more find the
#                payouts approved already. Each process's printed counts
#                must be what the database holds for it (0 lost
#                approvals), each payout must have exactly 10 approvals
#                given in the order 1..10 and one approved move, by the
#                tenth approver. (tests/integration/test_operations.sh has
#                the ten-approver test that counts totals; this one counts
#                per process, with more approvers than a payout needs.)
# In the races of two different commands, the end state (audit.jsonl aside,
# see below) must equal that of one of the two serial orders, and each
# command's exit code must be the one it has in that order. audit.jsonl is
# compared apart: a sink forwards every event committed by the time it runs,
# so after a race it may hold the other command's events too; it must be a
# prefix of the trail holding at least every committed run's own events
# (tools/payrun-check checks the prefix).
# After every race: tools/payrun-check (state machine replayed from the
# trail, one event per move, books whole), `payrun audit verify`,
# integrity_check, foreign_key_check, no temporary file left, and SQL counts
# named in each check.
#
# Options by environment: RACE_SEED (default 7), RACE_APPROVERS.
. "$(dirname "$0")/common.sh"

SEED=${RACE_SEED:-7}
RANDOM=$SEED
if [ "$MODE" = full ]; then
  N_CLOSE2=300 N_CLOSE2_RECALC=50 N_CLOSE3=20 N_NOWAIT=50 N_NOWAIT_RECALC=25
  N_APPROVE_NEXT=50 N_APPROVE_RECALC=50
  N_APPROVE_REJECT=50 N_APPROVER_ROUNDS=5 APPROVERS=${RACE_APPROVERS:-30}
  N_PAY2=50 N_APPROVE_PAY=50
else
  N_CLOSE2=12 N_CLOSE2_RECALC=6 N_CLOSE3=0 N_NOWAIT=4 N_NOWAIT_RECALC=2
  N_APPROVE_NEXT=6 N_APPROVE_RECALC=6
  N_APPROVE_REJECT=6 N_APPROVER_ROUNDS=2 APPROVERS=${RACE_APPROVERS:-20}
  N_PAY2=6 N_APPROVE_PAY=6
fi
REQUIRED=10 # approvals each payout needs in the approvers race
BUSY=0 BUSY_RERUN_OK=0 BUSY_RERUN_COMMITTED=0 APPROVALS_CHECKED=0 MOVES_CHECKED=0
declare -A SEEN=()

# ---- launching together ------------------------------------------------------
# gate_open DIR: a FIFO the parent holds open read-write, so a child's open
# never blocks and nothing written is lost before every child has read.
# launch DIR NAME DELAY_MS ARGS...: payrun ARGS in the background; it waits
# at the gate, then DELAY_MS milliseconds, then runs. gate_release N lets N
# children go at once. collect NAME: waits, sets $rc.
declare -A PIDS=()
gate_open() { rm -f "$1/go"; mkfifo "$1/go"; exec 9<>"$1/go"; PIDS=(); }
launch() {
  local d=$1 name=$2 delay=$3; shift 3
  ( exec 9>&-
    read -r _ <"$d/go"
    [ "$delay" -eq 0 ] || sleep "$((delay / 1000)).$(printf '%03d' $((delay % 1000)))"
    date +%s%N >"$d/$name.t0"
    TMPDIR="$d/tmp" exec "$PAYRUN" "$@" --config "$d/config/demo.yaml" \
      >"$d/$name.out" 2>"$d/$name.err" ) &
  PIDS[$name]=$!
}
gate_release() { local i; for ((i = 0; i < $1; i++)); do echo go; done >&9; }
gate_close() { exec 9>&-; }
collect() { wait "${PIDS[$1]}"; rc=$?; }
# elapsed_ms DIR NAME: at most how long NAME ran (from just before its exec)
elapsed_ms() { echo $(( ($(date +%s%N) - $(cat "$1/$2.t0")) / 1000000 )); }
# the workspace's busy_timeout_ms (5000 unless the config sets it)
busy_timeout() { sed -n 's/^busy_timeout_ms: *\([0-9]*\).*/\1/p' "$1/config/demo.yaml" | grep . || echo 5000; }

# a busy refusal: one "payrun: ... busy ..." line and at most a hint
check_busy_message() { # FILE
  local first; first=$(grep -m1 . "$1")
  case "$first" in
    "payrun: "*busy*) ;;
    *) problem "unclear busy message: $(echo "$first" | cut -c1-200)" ;;
  esac
  [ "$(grep . "$1" | grep -vc '^hint: ')" -le 1 ] || problem "unclear busy message: more than one line"
}

# random delay in 0..MAX ms
rand_ms() { echo $(( RANDOM % ($1 + 1) )); }

# the median wall time of a clean close of the scenario, in ms
close_ms() {
  local d="$R/timing" i t0 t1
  for i in 1 2 3; do
    rm -rf "$d"; cp -a "$R/tpl-$1" "$d"
    t0=$(date +%s%N); payrun_in "$d" $(close_args) >/dev/null 2>&1; t1=$(date +%s%N)
    echo $(( (t1 - t0) / 1000000 ))
  done | sort -n | sed -n 2p
}

q() { sqlite3 -cmd ".timeout 10000" "$1/var/acme.db" "$2" 2>&1; }

# SQL counts that no race may change: duplicated natural keys, payouts with
# two creation events, events of a move in a state that does not allow it is
# tools/payrun-check's; here the sums, by name.
check_counts() { # DIR EXPECTED_CLOSE_RUNS_OF_PERIOD
  local d=$1 want=$2 n
  n=$(q "$d" "SELECT count(*) FROM (SELECT 1 FROM payouts GROUP BY org, period, partner_id, kind HAVING count(*) > 1)")
  [ "$n" = 0 ] || problem "double payout: $n natural keys with two payouts"
  n=$(q "$d" "SELECT count(*) FROM (SELECT 1 FROM audit_events WHERE action = 'payout.created' GROUP BY entity_id HAVING count(*) > 1)")
  [ "$n" = 0 ] || problem "double event: $n payouts created twice in the trail"
  n=$(q "$d" "SELECT count(*) FROM (SELECT 1 FROM audit_events WHERE action IN ('payout.approved', 'payout.rejected') GROUP BY entity_id HAVING count(*) > 1)")
  [ "$n" = 0 ] || problem "double move: $n payouts approved or rejected twice"
  n=$(q "$d" "SELECT count(*) FROM runs WHERE pipeline = 'close' AND period = '$PERIOD'")
  [ "$n" = "$want" ] || problem "run count: $n close runs of $PERIOD, expected $want"
  n=$(q "$d" "SELECT (SELECT count(*) FROM runs) - (SELECT count(*) FROM audit_events WHERE action = 'run.completed')")
  [ "$n" = 0 ] || problem "run count: runs and run.completed events differ by $n"
}

# audit.jsonl: every committed run's events forwarded (the rest of the file
# is payrun-check's: a prefix of the trail, seq by seq)
check_jsonl() { # DIR
  local f="$1/out/acme/audit.jsonl" last want
  want=$(q "$1" "SELECT coalesce(max(seq), 0) FROM audit_events WHERE action = 'run.completed'")
  last=$(tail -n 1 "$f" 2>/dev/null | sed -n 's/.*"seq":\([0-9]*\).*/\1/p')
  [ "${last:-0}" -ge "$want" ] || problem "audit.jsonl: ends at seq ${last:-0}, before the last run's event $want"
}

# canon without the audit.jsonl line
canon_nojsonl() { canon "$1" "$2.all"; grep -v ' out/acme/audit\.jsonl$' "$2.all" >"$2"; }

# ---- the scenarios' starting points -------------------------------------------
# tpl-demo, tpl-recalc (common.sh), their references after one clean close,
# and tpl-jan: January closed on the demo samples (the demo reference).
prepare() {
  local scn=$1 ref="$R/ref-$1" rc
  setup_scenario "$scn" "$R/tpl-$scn" || { echo "scenario $scn: setup failed" >&2; exit 2; }
  cp -a "$R/tpl-$scn" "$ref"
  payrun_in "$ref" $(close_args) >"$ref/close.out" 2>&1; rc=$?
  [ $rc -eq 0 ] || { echo "scenario $scn: the clean close failed (exit $rc):" >&2; cat "$ref/close.out" >&2; exit 2; }
  canon "$ref" "$R/ref-$scn.txt"
}

# ---- close || close -----------------------------------------------------------

close_race() { # TPL K ROUND (TPL: a scenario, or one with "-nowait" after it)
  local tpl=$1 k=$2 round=$3 scn=${1%-nowait} d="$R/case" i o delay committed=0 nothing=0 busy=0 runs_want
  rm -rf "$d"; cp -a "$R/tpl-$tpl" "$d"
  runs_want=$(q "$R/ref-$tpl" "SELECT count(*) FROM runs WHERE pipeline = 'close' AND period = '$PERIOD'")
  # odd rounds: all at once; even rounds: the others after a random delay
  # within one clean close, so they arrive in every phase of the first
  gate_open "$d"
  for ((i = 1; i <= k; i++)); do
    delay=0
    [ $((round % 2)) -eq 0 ] && [ "$i" -gt 1 ] && delay=$(rand_ms "$CLOSE_MS")
    launch "$d" "c$i" "$delay" $(close_args)
  done
  case_begin "$tpl close x$k #$round" "$tpl: close x$k" "$d"
  gate_release "$k"
  local busy_ones=""
  for ((i = 1; i <= k; i++)); do
    collect "c$i"
    check_no_crash "$d/c$i.err" "close $i"
    if [ $rc -eq 75 ]; then
      BUSY=$((BUSY + 1)); busy=$((busy + 1)); busy_ones="$busy_ones $i"; check_busy_message "$d/c$i.err"
      # the config promises a wait for the lock: a refusal before it is up is a bug
      [ "$(elapsed_ms "$d" "c$i")" -ge "$(busy_timeout "$d")" ] ||
        problem "busy without waiting: close $i exited 75 after $(elapsed_ms "$d" "c$i") ms, busy_timeout_ms is $(busy_timeout "$d"): $(head -1 "$d/c$i.err" | cut -c1-150)"
    elif [ $rc -ne 0 ]; then
      problem "exit: close $i exited $rc: $(head -1 "$d/c$i.err" | cut -c1-200)"
    elif grep -q "^close committed for" "$d/c$i.out"; then
      committed=$((committed + 1))
    elif grep -q "nothing to do" "$d/c$i.out"; then
      nothing=$((nothing + 1))
    else
      problem "exit 0 without saying what it did: $(head -1 "$d/c$i.out")"
    fi
  done
  gate_close
  [ "$committed" -le 1 ] || problem "double work: $committed closes committed"
  # none committed: only if all were refused as busy without waiting for
  # each other (busy_timeout_ms 0); a busy close run again then commits
  if [ "$committed" -eq 0 ] && { [ "$busy" -ne "$k" ] || [ "$(busy_timeout "$d")" -ne 0 ]; }; then
    problem "no close committed ($nothing found nothing to do, $busy busy)"
  fi
  o="$tpl close x$k: $committed committed, $nothing found nothing to do, $busy busy"
  SEEN[$o]=$(( ${SEEN[$o]:-0} + 1 ))
  # a busy close is run again, as a scheduler would: nothing left to do
  for i in $busy_ones; do
    if payrun_in "$d" $(close_args) >"$d/again.out" 2>"$d/again.err" && grep -q "nothing to do" "$d/again.out"; then
      BUSY_RERUN_OK=$((BUSY_RERUN_OK + 1))
    elif [ "$committed" -eq 0 ] && grep -q "^close committed for" "$d/again.out"; then
      committed=1 # all were busy: the first run again does the work
      BUSY_RERUN_COMMITTED=$((BUSY_RERUN_COMMITTED + 1))
    else
      problem "busy close run again: not \"nothing to do\": $(cat "$d/again.out" "$d/again.err" | head -2 | tr '\n' ' ' | cut -c1-200)"
    fi
  done
  check_counts "$d" "$runs_want"
  check_converged "$d" "$scn" "$R/ref-$tpl.txt"
  case_end
}

# nowait SCN: tpl-SCN-nowait, SCN's starting point with busy_timeout_ms: 0,
# and its reference
nowait() {
  local t="$R/tpl-$1-nowait" ref="$R/ref-$1-nowait"
  rm -rf "$t"; cp -a "$R/tpl-$1" "$t"
  sed -i 's/^allow_actor_override: true/busy_timeout_ms: 0\n&/' "$t/config/demo.yaml"
  grep -q '^busy_timeout_ms: 0$' "$t/config/demo.yaml" || { echo "nowait: cannot set busy_timeout_ms" >&2; exit 2; }
  cp -a "$t" "$ref"
  payrun_in "$ref" $(close_args) >"$ref/close.out" 2>&1 ||
    { echo "$1-nowait: the clean close failed:" >&2; cat "$ref/close.out" >&2; exit 2; }
  canon "$ref" "$R/ref-$1-nowait.txt"
}

# ---- two different commands: the end state is a serial order ---------------------
# pair_prepare NAME TPL "ARGS A" "ARGS B": the two serial references, their
# canonical states (audit.jsonl aside) and the exit codes there.
declare -A PAIR_A=() PAIR_B=() PAIR_TPL=()
pair_prepare() {
  local name=$1 tpl=$2 a=$3 b=$4 order d rca rcb
  PAIR_A[$name]=$a; PAIR_B[$name]=$b; PAIR_TPL[$name]=$tpl
  for order in AB BA; do
    d="$R/pref-$name-$order"; rm -rf "$d"; cp -a "$R/$tpl" "$d"
    if [ $order = AB ]; then
      payrun_in "$d" $a >"$d/a.out" 2>"$d/a.err"; rca=$?
      payrun_in "$d" $b >"$d/b.out" 2>"$d/b.err"; rcb=$?
    else
      payrun_in "$d" $b >"$d/b.out" 2>"$d/b.err"; rcb=$?
      payrun_in "$d" $a >"$d/a.out" 2>"$d/a.err"; rca=$?
    fi
    echo "$rca $rcb" >"$R/pref-$name-$order.rc"
    canon_nojsonl "$d" "$R/pref-$name-$order.txt"
    echo "$name: one after the other, $order: A exits $rca, B exits $rcb"
    [ $rca -eq 0 ] || echo "  A: $(head -1 "$d/a.err" | cut -c1-150)"
    [ $rcb -eq 0 ] || echo "  B: $(head -1 "$d/b.err" | cut -c1-150)"
  done
  cmp -s "$R/pref-$name-AB.txt" "$R/pref-$name-BA.txt" &&
    echo "$name: (both orders end in the same state)"
}

pair_race() { # NAME ROUND SCN [EXTRA_CHECK]
  local name=$1 round=$2 scn=$3 extra=${4:-} d="$R/case" da=0 db=0 rca rcb order="" o want
  rm -rf "$d"; cp -a "$R/${PAIR_TPL[$name]}" "$d"
  # round 1: together; then one of them delayed by a random time within a
  # clean close, A and B in turn
  if [ "$round" -gt 1 ]; then
    if [ $((round % 2)) -eq 0 ]; then db=$(rand_ms "$CLOSE_MS"); else da=$(rand_ms "$CLOSE_MS"); fi
  fi
  gate_open "$d"
  launch "$d" a "$da" ${PAIR_A[$name]}
  launch "$d" b "$db" ${PAIR_B[$name]}
  case_begin "$name #$round (A +${da} ms, B +${db} ms)" "$name" "$d"
  gate_release 2
  collect a; rca=$rc
  collect b; rcb=$rc
  gate_close
  check_no_crash "$d/a.err" "A"; check_no_crash "$d/b.err" "B"
  # busy: run again afterwards, as a scheduler would
  if [ $rca -eq 75 ]; then
    BUSY=$((BUSY + 1)); check_busy_message "$d/a.err"
    payrun_in "$d" ${PAIR_A[$name]} >"$d/a.out" 2>"$d/a.err"; rca=$?
  fi
  if [ $rcb -eq 75 ]; then
    BUSY=$((BUSY + 1)); check_busy_message "$d/b.err"
    payrun_in "$d" ${PAIR_B[$name]} >"$d/b.out" 2>"$d/b.err"; rcb=$?
  fi
  canon_nojsonl "$d" "$d/canon.txt"
  for o in AB BA; do
    if cmp -s "$R/pref-$name-$o.txt" "$d/canon.txt"; then order=$o; break; fi
  done
  if [ -z "$order" ]; then
    diff "$R/pref-$name-AB.txt" "$d/canon.txt" >"$d/canon.diff"
    problem "no serial order: the state is neither A then B nor B then A; vs A then B: $(grep -c '^[<>]' "$d/canon.diff") lines differ, first: $(grep -m1 '^[<>]' "$d/canon.diff" | cut -c1-200)"
  else
    # both orders may end alike (then either exit codes will do)
    want=$(cat "$R/pref-$name-$order.rc")
    if [ "$rca $rcb" != "$want" ] && ! { cmp -s "$R/pref-$name-AB.txt" "$R/pref-$name-BA.txt" &&
         { [ "$rca $rcb" = "$(cat "$R/pref-$name-AB.rc")" ] || [ "$rca $rcb" = "$(cat "$R/pref-$name-BA.rc")" ]; }; }; then
      problem "exit codes: A $rca, B $rcb, but $want in the order $order the state shows: $(head -1 "$d/a.err" "$d/b.err" 2>/dev/null | tr '\n' ' ' | cut -c1-200)"
    fi
    SEEN["$name: ended as $order"]=$(( ${SEEN["$name: ended as $order"]:-0} + 1 ))
  fi
  # (the pay pipeline has no audit sink: its events wait for the next run that has one)
  [ "$scn" = pay ] || check_jsonl "$d"
  check_invariants "$d" "$scn"
  [ -z "$extra" ] || "$extra" "$d"
  case_end
}

# approve || reject, on top of the pair race: exactly one move, and the
# approvals table agrees with it
approve_reject_counts() { # DIR
  local d=$1 id=$CLOUD moves st appr
  moves=$(q "$d" "SELECT count(*) FROM audit_events WHERE entity_id = '$id' AND action IN ('payout.approved', 'payout.rejected')")
  st=$(q "$d" "SELECT status FROM payouts WHERE id = '$id'")
  appr=$(q "$d" "SELECT count(*) FROM approvals WHERE payout_id = '$id'")
  [ "$moves" = 1 ] || problem "double move: $moves approve/reject moves of $id"
  MOVES_CHECKED=$((MOVES_CHECKED + 1))
  case "$st:$appr" in
    approved:1|rejected:0) ;;
    *) problem "approvals: $id is $st with $appr approvals" ;;
  esac
}

# pay || pay and approve || pay, on top of the pair race: each payout in
# processing moved there once, with one file, and every payout a bank file
# carries is in processing (payrun-check matches files and trail)
pay_counts() { # DIR
  local d=$1 bad
  bad=$(q "$d" "SELECT entity_id || ':' || count(*) FROM audit_events WHERE action = 'payout.processing'
                GROUP BY entity_id HAVING count(*) > 1" | tr '\n' ' ')
  [ -z "$bad" ] || problem "double move: payouts moved to processing more than once: $bad"
  bad=$(q "$d" "SELECT p.id FROM payouts p WHERE p.status = 'processing' AND (SELECT count(*) FROM
                audit_events e WHERE e.entity_id = p.id AND e.action = 'payout.processing') <> 1" | tr '\n' ' ')
  [ -z "$bad" ] || problem "double move: processing payouts without exactly one move there: $bad"
  MOVES_CHECKED=$((MOVES_CHECKED + $(q "$d" "SELECT count(*) FROM payouts WHERE status = 'processing'")))
}

# tpl-pay-half: January closed, TechStar approved by bob and carol,
# CloudBridge still waiting for bob's approval
pay_half_ws() {
  local d="$R/tpl-pay-half" ts
  rm -rf "$d"; cp -a "$R/tpl-jan" "$d"
  ts=$(q "$d" "SELECT id FROM payouts WHERE partner_id = 'TECHSTAR' AND period = '$PERIOD'")
  { payrun_in "$d" approve "$ts" --as bob && payrun_in "$d" approve "$ts" --as carol; } >"$d/setup.out" 2>&1 ||
    { echo "pay-half: the approvals failed:" >&2; cat "$d/setup.out" >&2; exit 2; }
}

# ---- many approvers -------------------------------------------------------------

approvers_ws() { # DIR: tpl-demo with approvers a1..aN needing REQUIRED approvals, January closed
  local d=$1 i list=""
  rm -rf "$d"; cp -a "$R/tpl-demo" "$d"
  for ((i = 1; i <= APPROVERS; i++)); do list="$list  a$i: [approver]\n"; done
  sed -i -e "s/^  carol: \[approver\]$/  carol: [approver]\n${list%\\n}/" \
         -e "s/two_approvals_from: \"10000.00\"/two_approvals_from: \"0.01\"\n        approvals_required: $REQUIRED/" \
    "$d/config/demo.yaml"
  payrun_in "$d" $(close_args) >"$d/setup.out" 2>&1 ||
    { echo "approvers: the close failed:" >&2; cat "$d/setup.out" >&2; exit 2; }
  [ "$(q "$d" "SELECT count(*) FROM payouts WHERE approvals_required = $REQUIRED AND status = 'pending_approval'")" = 3 ] ||
    { echo "approvers: expected 3 payouts needing $REQUIRED approvals" >&2; exit 2; }
}

approvers_race() { # ROUND
  local round=$1 d="$R/case" i try said stored sum_x=0 sum_y=0 x y bad n
  approvers_ws "$d"
  case_begin "$APPROVERS approvers #$round" "approvers: $APPROVERS at once" "$d"
  gate_open "$d"
  for ((i = 1; i <= APPROVERS; i++)); do
    launch "$d" "a$i" 0 approve --all-pending --period "$PERIOD" --as "a$i"
  done
  gate_release "$APPROVERS"
  local rcs=()
  for ((i = 1; i <= APPROVERS; i++)); do collect "a$i"; rcs[i]=$rc; done
  gate_close
  for ((i = 1; i <= APPROVERS; i++)); do
    rc=${rcs[i]}
    check_no_crash "$d/a$i.err" "approver a$i"
    # busy: again, as a person would (at most 5 times in all)
    for try in 2 3 4 5; do
      [ $rc -eq 75 ] || break
      BUSY=$((BUSY + 1)); check_busy_message "$d/a$i.err"
      payrun_in "$d" approve --all-pending --period "$PERIOD" --as "a$i" >"$d/a$i.out" 2>"$d/a$i.err"; rc=$?
    done
    [ $rc -eq 0 ] || { problem "exit: approver a$i exited $rc: $(head -1 "$d/a$i.err" | cut -c1-200)"; continue; }
    said=$(sed -n 's/^approved \([0-9]*\), waiting for more approvals \([0-9]*\), skipped \([0-9]*\)$/\1 \2 \3/p' "$d/a$i.out")
    [ -n "$said" ] || { problem "approver a$i printed no summary"; continue; }
    read -r x y _ <<<"$said"
    sum_x=$((sum_x + x)); sum_y=$((sum_y + y))
    stored=$(q "$d" "SELECT count(*) FROM approvals WHERE approver = 'a$i'")
    APPROVALS_CHECKED=$((APPROVALS_CHECKED + x + y))
    [ "$stored" = $((x + y)) ] || problem "lost approval: a$i said it approved $x and gave $y more, the database holds $stored of its approvals"
  done
  [ "$sum_x" = 3 ] || problem "approved moves: the approvers said $sum_x payouts were approved by them, expected 3"
  [ "$sum_y" = $((3 * (REQUIRED - 1))) ] || problem "approvals: the approvers said $sum_y approvals were waiting for more, expected $((3 * (REQUIRED - 1)))"
  n=$(q "$d" "SELECT count(*) FROM payouts WHERE period = '$PERIOD' AND status = 'approved'")
  [ "$n" = 3 ] || problem "approvals: $n of 3 payouts approved"
  bad=$(q "$d" "SELECT payout_id || ':' || count(*) FROM approvals GROUP BY payout_id HAVING count(*) <> $REQUIRED" | tr '\n' ' ')
  [ -z "$bad" ] || problem "approvals: not $REQUIRED approvals per payout: $bad"
  n=$(q "$d" "SELECT count(*) - count(DISTINCT payout_id || '/' || approver) FROM approvals")
  [ "$n" = 0 ] || problem "approvals: $n approvers approved a payout twice"
  # approvals given 1..REQUIRED in trail order, each once
  bad=$(q "$d" "SELECT entity_id || ':' || g FROM (SELECT entity_id, group_concat(n, ',') AS g FROM
                  (SELECT entity_id, json_extract(metadata, '\$.approvals_given') AS n FROM audit_events
                   WHERE action = 'payout.approval_given' ORDER BY seq) GROUP BY entity_id)
                WHERE g <> '$(seq -s, 1 "$REQUIRED")'" | tr '\n' ' ')
  [ -z "$bad" ] || problem "approval order: approvals_given not 1..$REQUIRED: $bad"
  # one approved move each, right after the last approval, by its approver
  bad=$(q "$d" "SELECT p.id FROM payouts p WHERE p.period = '$PERIOD' AND (
                  (SELECT count(*) FROM audit_events e WHERE e.entity_id = p.id AND e.action = 'payout.approved') <> 1
                  OR (SELECT actor FROM audit_events e WHERE e.entity_id = p.id AND e.action = 'payout.approved') IS NOT
                     (SELECT actor FROM audit_events e WHERE e.entity_id = p.id AND e.action = 'payout.approval_given' ORDER BY seq DESC LIMIT 1)
                  OR p.approved_by IS NOT
                     (SELECT actor FROM audit_events e WHERE e.entity_id = p.id AND e.action = 'payout.approval_given' ORDER BY seq DESC LIMIT 1)
                  OR (SELECT max(seq) FROM audit_events e WHERE e.entity_id = p.id AND e.action = 'payout.approval_given') >
                     (SELECT seq FROM audit_events e WHERE e.entity_id = p.id AND e.action = 'payout.approved'))" | tr '\n' ' ')
  [ -z "$bad" ] || problem "double move: approved not once, or not by the last approver: $bad"
  MOVES_CHECKED=$((MOVES_CHECKED + 3))
  check_invariants "$d" demo
  case_end
}

# ---- the run ---------------------------------------------------------------------

echo "race.sh --$MODE: $PAYRUN"
prepare demo
prepare recalc
rm -rf "$R/tpl-jan"; cp -a "$R/ref-demo" "$R/tpl-jan"
CLOSE_MS=$(close_ms demo)
echo "a clean close takes $CLOSE_MS ms here (the median of 3); delays are drawn in 0..$CLOSE_MS ms (seed $SEED)"

for ((r = 1; r <= N_CLOSE2; r++)); do close_race demo 2 "$r"; done
for ((r = 1; r <= N_CLOSE2_RECALC; r++)); do close_race recalc 2 "$r"; done
for ((r = 1; r <= N_CLOSE3; r++)); do close_race demo 3 "$r"; done
nowait demo; nowait recalc
for ((r = 1; r <= N_NOWAIT; r++)); do close_race demo-nowait 2 "$r"; done
for ((r = 1; r <= N_NOWAIT_RECALC; r++)); do close_race recalc-nowait 2 "$r"; done

pair_prepare "approve || next close" tpl-jan \
  "approve --all-pending --period $PERIOD --as bob" "run close --period 2026-02 --as alice"
for ((r = 1; r <= N_APPROVE_NEXT; r++)); do pair_race "approve || next close" "$r" demo; done

pair_prepare "approve || recalc" tpl-recalc \
  "approve --all-pending --period $PERIOD --as bob" "$(close_args)"
for ((r = 1; r <= N_APPROVE_RECALC; r++)); do pair_race "approve || recalc" "$r" recalc; done

CLOUD=$(q "$R/tpl-jan" "SELECT id FROM payouts WHERE partner_id = 'CLOUDBRIDGE' AND period = '$PERIOD'")
pair_prepare "approve || reject" tpl-jan \
  "approve $CLOUD --as bob" "reject $CLOUD --reason race --as carol"
for ((r = 1; r <= N_APPROVE_REJECT; r++)); do pair_race "approve || reject" "$r" demo approve_reject_counts; done

setup_scenario pay "$R/tpl-pay" || { echo "scenario pay: setup failed" >&2; exit 2; }
pair_prepare "pay || pay" tpl-pay \
  "run pay --period $PERIOD --as bob" "run pay --period $PERIOD --as bob"
for ((r = 1; r <= N_PAY2; r++)); do pair_race "pay || pay" "$r" pay pay_counts; done

pay_half_ws
pair_prepare "approve || pay" tpl-pay-half \
  "approve $CLOUD --as bob" "run pay --period $PERIOD --as bob"
for ((r = 1; r <= N_APPROVE_PAY; r++)); do pair_race "approve || pay" "$r" pay pay_counts; done

for ((r = 1; r <= N_APPROVER_ROUNDS; r++)); do approvers_race "$r"; done

print_figures "commands raced against each other"
echo
echo "outcomes seen:"
while IFS= read -r k; do
  [ -n "$k" ] && printf '  %4d  %s\n' "${SEEN[$k]}" "$k"
done < <(printf '%s\n' "${!SEEN[@]}" | LC_ALL=C sort)
echo "busy (exit 75) answers: $BUSY; busy closes run again: $BUSY_RERUN_OK found nothing to do," \
     "$BUSY_RERUN_COMMITTED did the work (all had been busy)"
echo "approvals checked against what their approver printed: $APPROVALS_CHECKED; approve/reject moves checked: $MOVES_CHECKED"
for k in "double payout" "double work" "double move" "lost approval" "no serial order"; do
  printf '%s: %d   ' "$k" "${CAT_COUNT[$k]:-0}"
done
echo
finish
