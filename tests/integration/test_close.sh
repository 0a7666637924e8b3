#!/usr/bin/env bash
# test_close.sh: `payrun run close` end to end with the shipped plugins on
# the demo samples: the demo's figures, byte-identical reruns,
# rejects that change nothing, dry runs, recalculation while pending, the
# refusal once a payout has moved on, roles, the journal checked by
# hledger, and the audit trail forwarded and verified.
set -e
. "$(dirname "$0")/lib.sh"
: "${BUILD:?BUILD must name the build tree}"

W="$T/work"
mkdir -p "$W/in"
cp "$SRC"/samples/*.csv "$W/in/"
write_config() { # write_config FILE [approval with: block]
  cat >"$1" <<YAML
version: 1
org: acme
currency: USD
database: db/acme.db
plugin_path: [$BUILD/plugins]
output_dir: out/{org}/{period}
allow_actor_override: true
actors:
  alice: [preparer]
  bob: [approver, payer]
pipelines:
  close:
$(demo_close_stages)
    - stage: approvals
      plugin: approval_rules
      with: ${2:-{ auto_approve_below: "1000.00", two_approvals_from: "10000.00", reject_inactive_partners: true \}}
    - stage: export
      plugin: export_csv
      with: { path: payouts.csv }
    - stage: journal
      plugin: export_ledger
      with: { format: hledger, path: accrual.journal }
    - stage: audit
      plugin: audit_jsonl
      with: { path: ../audit.jsonl }
YAML
}
mkdir -p "$W/db"
write_config "$W/payrun.yaml"
cfg="$W/payrun.yaml"
export PAYRUN_CLOCK=2026-03-01T09:00:00Z
db="$W/db/acme.db"
q() { sqlite3 "$db" "$1"; }

# --- January: three payouts -------------------------------------------
run "$PAYRUN" run close --period 2026-01 --config "$cfg" --as alice
expect_rc 0 "close 2026-01"
expect_out "close committed for acme, period 2026-01" "summary line"
expect_out "read 7, imported 6" "import counts in summary"
csv="$W/out/acme/2026-01/payouts.csv"
[ -f "$csv" ] && ok || fail "payouts.csv written"
for want in "DATAPIPE,DataPipe Agency,5630.00" "TECHSTAR,TechStar Solutions,12450.00" "CLOUDBRIDGE,CloudBridge Partners,8920.00"; do
  if grep -q "$want" "$csv"; then ok; else fail "payouts.csv has $want"; fi
done
[ "$(q "SELECT count(*) FROM payouts WHERE period='2026-01'")" = 3 ] && ok || fail "3 payouts in January"
[ "$(q "SELECT approvals_required FROM payouts WHERE partner_id='TECHSTAR'")" = 2 ] && ok || fail "TechStar needs two approvals"

# --- rerun with the same inputs: nothing changes ------------------------
sum1=$(sha256sum "$csv" "$W/out/acme/2026-01/accrual.journal" | cut -c1-64)
rows1=$(q "SELECT (SELECT count(*) FROM payouts)||'/'||(SELECT count(*) FROM audit_events)||'/'||(SELECT count(*) FROM commission_lines)||'/'||(SELECT count(*) FROM runs)")
run "$PAYRUN" run close --period 2026-01 --config "$cfg" --as alice
expect_rc 0 "identical rerun"
expect_out "nothing to do" "identical rerun says so"
sum2=$(sha256sum "$csv" "$W/out/acme/2026-01/accrual.journal" | cut -c1-64)
rows2=$(q "SELECT (SELECT count(*) FROM payouts)||'/'||(SELECT count(*) FROM audit_events)||'/'||(SELECT count(*) FROM commission_lines)||'/'||(SELECT count(*) FROM runs)")
[ "$sum1" = "$sum2" ] && ok || fail "exports byte-identical after rerun"
[ "$rows1" = "$rows2" ] && ok || fail "zero new rows after rerun ($rows1 vs $rows2)"
# the same rerun with its report going to a full device: not exit 0
run sh -c 'exec "$0" "$@" >/dev/full' "$PAYRUN" run close --period 2026-01 --config "$cfg" --as alice
expect_rc 74 "rerun whose summary cannot be written"
expect_err "payrun: cannot write to standard output: No space left on device" "lost summary named"
expect_err "hint: the command itself completed" "lost summary: the work was done"

# --- February: the two pending payouts, BrightPath rolls over ----------
run "$PAYRUN" run close --period 2026-02 --config "$cfg" --as alice
expect_rc 0 "close 2026-02"
[ "$(q "SELECT amount FROM payouts WHERE partner_id='NEXGEN' AND period='2026-02'")" = 1520000 ] && ok || fail "NexGen 15,200.00"
[ "$(q "SELECT amount FROM payouts WHERE partner_id='GROWTHLABS' AND period='2026-02'")" = 680000 ] && ok || fail "GrowthLabs 6,800.00"
[ "$(q "SELECT count(*) FROM commission_lines WHERE partner_id='BRIGHTPATH' AND carried_to='2026-03' AND carry_reason='below min_payout 100.00'")" = 1 ] && ok || fail "BrightPath carried with reason"
[ "$(q "SELECT sum(amount) FROM payouts")" = 4900000 ] && ok || fail "49,000.00 over five payouts"
# every payout's lines sum to it exactly
[ "$(q "SELECT count(*) FROM payouts p WHERE p.amount <> (SELECT sum(amount) FROM commission_lines c WHERE c.payout_id = p.id)")" = 0 ] && ok || fail "lines sum to payouts"

# --- the journal passes hledger's strict check and balances ------------
j="$W/out/acme/2026-02/accrual.journal"
run hledger check --strict -f "$j"
expect_rc 0 "hledger check --strict"
run hledger bal -f "$j" --no-total -N Liabilities
expect_out "-22000.00 USD" "payable equals the payouts"

# --- bad rows: nothing changes, rejects listed --------------------------
before=$(q "SELECT count(*) FROM payouts")||true
sed 's/^D-1004,Umbrella onboarding,won,2026-02-05,GROWTHLABS,last_touch,100,75000.00/D-1004,Umbrella onboarding,won,2026-02-05,GROWTHLABS,last_touch,100,"75,000.00"/' "$W/in/attributions-2026-02.csv" >"$W/in/attributions-2026-03.csv"
printf 'D-1101,Later deal,won,2026-03-02,NOSUCH,first_touch,100,10.00,USD,\n' >>"$W/in/attributions-2026-03.csv"
run "$PAYRUN" run close --period 2026-03 --config "$cfg" --as alice
expect_rc 65 "rejected rows fail the run"
expect_err "rejected" "error names the rejects"
rej="$W/out/acme/2026-03/rejects.csv"
[ -f "$rej" ] && ok || fail "rejects file kept"
grep -q '^attributions-2026-03.csv,7,' "$rej" && ok || fail "rejects name line 7"
grep -q 'unknown partner' "$rej" && ok || fail "rejects give the reason"
[ ! -f "$W/out/acme/2026-03/payouts.csv" ] && ok || fail "no payouts.csv after a failed run"
[ "$(q "SELECT count(*) FROM payouts")" = "$before" ] && ok || fail "failed run changed nothing"
[ "$(q "SELECT count(*) FROM runs WHERE period='2026-03'")" = 0 ] && ok || fail "failed run not recorded"

# --- lines refused when settled, through the real core -----------------
# A second line of a deal and partner and an unknown partner's line are
# found after the last row; with on_reject: skip the good lines go in, the
# first of the two stays, and the rejects carry each row as written.
sed 's|in/attributions-{period}.csv", partners: "in/partners.csv" }|in/attributions-{period}.csv", partners: "in/partners.csv", on_reject: skip }|; s|database: db/acme.db|database: db/settle.db|; s|../audit.jsonl|../settle-audit.jsonl|' "$cfg" >"$W/settle.yaml"
[ "$(grep -c 'on_reject: skip\|settle\.db\|settle-audit' "$W/settle.yaml")" = 3 ] && ok ||
  fail "settle.yaml skips rejects, in its own database and trail"
{ cat "$W/in/attributions-2026-02.csv"
  sed -n 2p "$W/in/attributions-2026-02.csv" | sed 's/,won,\(2026-02-..\),/,won,\1,/; s/,[0-9.]*,USD,/,1.00,USD,/'
  printf 'D-9001,Nobody deal,won,2026-02-09,NOSUCH,first_touch,100,10.00,USD,\n'
  sed -n 3p "$W/in/attributions-2026-02.csv"
} >"$W/in/attributions-2026-05.csv"
sed -i 's/,2026-02-/,2026-05-/' "$W/in/attributions-2026-05.csv"
n_read=$(($(wc -l <"$W/in/attributions-2026-05.csv") - 1))
run "$PAYRUN" run close --period 2026-05 --config "$W/settle.yaml" --as alice
expect_rc 0 "close with on_reject: skip and refusals at settling"
sq() { sqlite3 "$W/db/settle.db" "$1"; }
rej="$W/out/acme/2026-05/rejects.csv"
first_deal=$(sed -n 2p "$W/in/attributions-2026-05.csv" | cut -d, -f1)
first_amount=$(sed -n 2p "$W/in/attributions-2026-05.csv" | cut -d, -f8 | tr -d .)
last_line=$(wc -l <"$W/in/attributions-2026-05.csv")
[ "$(grep -c "^attributions-2026-05.csv,$((last_line - 2)),\"duplicate deal_id \"\"$first_deal\"\"" "$rej")" = 1 ] && ok || fail "the second line of a deal is rejected with its line"
[ "$(grep -c "^attributions-2026-05.csv,$((last_line - 1)),\"unknown partner \"\"NOSUCH\"\"\",\"D-9001,Nobody deal,won,2026-05-09,NOSUCH," "$rej")" = 1 ] && ok || fail "the unknown partner's line is rejected with the row as written"
[ "$(grep -c "^attributions-2026-05.csv,$last_line,\"duplicate deal_id" "$rej")" = 1 ] && ok || fail "a repeat of a good line after them is rejected too"
[ "$(sq "SELECT attributed_amount FROM attribution_lines WHERE period='2026-05' AND deal_id='$first_deal'")" = "$first_amount" ] && ok || fail "the first line of the deal is the one kept"
counts=$(sq "SELECT counts FROM runs WHERE period='2026-05'")
imported=$(sq "SELECT count(*) FROM attribution_lines WHERE period='2026-05'")
echo "$counts" | grep -q "\"read\":$n_read," && ok || fail "read counts every row: $counts"
echo "$counts" | grep -q "\"imported\":$imported," && ok || fail "imported is what the table holds: $counts"
echo "$counts" | grep -q "\"rejected\":3," && ok || fail "three rejected: $counts"

# --- dry run: nothing written -------------------------------------------
cp "$SRC/samples/attributions-2026-02.csv" "$W/in/attributions-2026-04.csv"
sed -i 's/2026-02-/2026-04-/' "$W/in/attributions-2026-04.csv"
run "$PAYRUN" run close --period 2026-04 --config "$cfg" --as alice --dry-run
expect_rc 0 "dry run"
expect_out "dry run (nothing was written)" "dry run says so"
[ ! -e "$W/out/acme/2026-04/payouts.csv" ] && ok || fail "dry run writes no export"
[ "$(q "SELECT count(*) FROM payouts WHERE period='2026-04'")" = 0 ] && ok || fail "dry run writes no payouts"
[ "$(ls "$W/out/acme/2026-04" 2>/dev/null | grep -c tmp || true)" = 0 ] && ok || fail "dry run leaves no temp files"

# --- changed inputs while pending: recalculated and audited -------------
# Beside February's outputs, temporary files as a killed run leaves them:
# those of its own outputs, of a process that is gone and not recorded as a
# committed run's, go; the rest stays (a live process's, a committed run's
# still waiting for its rename, names that are not its outputs').
sh -c 'exit 0' & dead=$!; wait "$dead"
sh -c 'exit 0' & dead2=$!; wait "$dead2"
# a zombie, as a run killed with `timeout -s KILL` is until it is collected:
# its parent has not collected it yet. The parent forks, never waits and
# ignores no signal (a shell might reap its child before exec'ing a sleep).
python3 -c 'import os, sys, time
pid = os.fork()
if pid == 0:
    os._exit(0)
print(pid, flush=True)
time.sleep(60)' >"$T/zombie" & holder=$!
for i in $(seq 50); do [ -s "$T/zombie" ] && grep -q '^[0-9]* ([^)]*) Z' "/proc/$(cat "$T/zombie")/stat" 2>/dev/null && break; sleep 0.1; done
zombie=$(cat "$T/zombie")
grep -q '^[0-9]* ([^)]*) Z' "/proc/$zombie/stat" && ok || fail "process $zombie is a zombie"
o2="$W/out/acme/2026-02"
for f in "payouts.csv.tmp-$dead" "accrual.journal.tmp-$zombie" "payouts.csv.tmp-$$" \
         "payouts.csv.tmp-${dead}x" "notes.csv.tmp-$dead" "accrual.journal.tmp-$dead2"; do
  echo partial >"$o2/$f"
done
q "INSERT INTO pending_outputs (org, run_id, final, tmp, sha256) VALUES ('acme',
   (SELECT max(id) FROM runs), '$W/./out/acme/2026-02/waiting.csv',
   '$W/./out/acme/2026-02/accrual.journal.tmp-$dead2', '$(printf '0%.0s' $(seq 64))')"
sed -i 's/^D-1003,Initech pilot,won,2026-02-20,NEXGEN,first_touch,100,17000.00/D-1003,Initech pilot,won,2026-02-20,NEXGEN,first_touch,100,18000.00/' "$W/in/attributions-2026-02.csv"
run "$PAYRUN" run close --period 2026-02 --config "$cfg" --as alice
expect_rc 0 "recalculate while pending"
[ "$(q "SELECT amount FROM payouts WHERE partner_id='NEXGEN' AND period='2026-02'")" = 1530000 ] && ok || fail "NexGen recalculated to 15,300.00"
[ "$(q "SELECT count(*) FROM audit_events WHERE action='payout.recalculated' AND metadata LIKE '{\"before\":{\"amount\":1520000},\"after\":{\"amount\":1530000}%'")" = 1 ] && ok || fail "recalculation audited with before and after"
expect_err "removed $o2/payouts.csv.tmp-$dead: a temporary file left by payrun process $dead" "stale temporary file removed, and said"
kill "$holder"; wait "$holder" 2>/dev/null || true
[ ! -e "$o2/payouts.csv.tmp-$dead" ] && ok || fail "stale temporary file of a process that is gone removed"
[ ! -e "$o2/accrual.journal.tmp-$zombie" ] && ok || fail "stale temporary file of a zombie process removed"
for f in "payouts.csv.tmp-$$" "payouts.csv.tmp-${dead}x" "notes.csv.tmp-$dead" "accrual.journal.tmp-$dead2"; do
  [ -e "$o2/$f" ] && ok || fail "$f kept"
done
expect_err "waiting.csv, committed by run 2, is missing, and its temporary file $W/./out/acme/2026-02/accrual.journal.tmp-$dead2 is not the file the run wrote" "a recorded file with another digest is not put in place, and said"
expect_err_lines 3 "two removals and the warning about the recorded file, nothing else"
rm -f "$o2/payouts.csv.tmp-$$" "$o2/payouts.csv.tmp-${dead}x" "$o2/notes.csv.tmp-$dead" "$o2/accrual.journal.tmp-$dead2"
q "DELETE FROM pending_outputs"

# A committed run's file that its run still holds locked (the run is
# between its commit and its renames) is that run's to put in place:
# another run leaves it alone and says nothing. Once the lock is gone, the
# next run puts it in place, whatever process has the PID in its name
# (here 1, always alive, as a killed run's PID would be in a container).
printf 'complete\n' >"$o2/alive.csv.tmp-1"
flock -F -x "$o2/alive.csv.tmp-1" sleep 600 >/dev/null 2>&1 & holder=$!
for i in $(seq 50); do
  flock -n -s "$o2/alive.csv.tmp-1" true 2>/dev/null || break; sleep 0.1
done
q "INSERT INTO pending_outputs (org, run_id, final, tmp, sha256) VALUES ('acme',
   (SELECT max(id) FROM runs), '$o2/alive.csv', '$o2/alive.csv.tmp-1',
   '$(sha256sum <"$o2/alive.csv.tmp-1" | cut -d' ' -f1)')"
run "$PAYRUN" run close --period 2026-02 --config "$cfg" --as alice
expect_rc 0 "a rerun while a running run's committed file waits"
[ ! -e "$o2/alive.csv" ] && [ -e "$o2/alive.csv.tmp-1" ] && ok ||
  fail "a running run's committed file is left to it"
if grep -q 'alive.csv' <<<"$err"; then fail "nothing said about a running run's file"; else ok; fi
kill "$holder"; wait "$holder" 2>/dev/null || true
run "$PAYRUN" run close --period 2026-02 --config "$cfg" --as alice
expect_rc 0 "a rerun once that run's lock is gone"
expect_err "put $o2/alive.csv in place: run " "its file is put in place, and said"
[ "$(cat "$o2/alive.csv" 2>/dev/null)" = complete ] && [ ! -e "$o2/alive.csv.tmp-1" ] &&
  [ "$(q "SELECT count(*) FROM pending_outputs")" = 0 ] && ok ||
  fail "alive.csv in place, its temporary file and pending row gone"
rm -f "$o2/alive.csv"

# --- once a payout has moved on, a changed close is refused -------------
write_config "$W/auto.yaml" '{ auto_approve_below: "20000.00" }'
sed -i 's|database: db/acme.db|database: db/auto.db|; s|output_dir: out/|output_dir: out-auto/|' "$W/auto.yaml"
run "$PAYRUN" run close --period 2026-01 --config "$W/auto.yaml" --as alice
expect_rc 0 "close with auto-approval"
[ "$(sqlite3 "$W/db/auto.db" "SELECT count(*) FROM payouts WHERE status='approved' AND approved_by='rule:auto_approve_below'")" = 3 ] && ok || fail "auto-approved by the rule"
sed -i 's/36300.00/36400.00/' "$W/in/attributions-2026-01.csv"
run "$PAYRUN" run close --period 2026-01 --config "$W/auto.yaml" --as alice
expect_rc 65 "changed close after approval refused"
expect_err "cannot be recalculated" "refusal says why"
expect_err "(approved)" "refusal names the payouts and states"

# --- roles ---------------------------------------------------------------
run "$PAYRUN" run close --period 2026-02 --config "$cfg" --as bob
expect_rc 77 "an approver may not close"
expect_err "needs the preparer role" "role named"
sed 's/allow_actor_override: true/allow_actor_override: false/' "$cfg" >"$W/noas.yaml"
run "$PAYRUN" run close --period 2026-02 --config "$W/noas.yaml" --as alice
expect_rc 77 "--as refused without override"

# --- audit trail: verified, forwarded once each --------------------------
run "$PAYRUN" audit verify --config "$cfg"
expect_rc 0 "audit verify after closes"
events=$(q "SELECT count(*) FROM audit_events")
lines=$(wc -l <"$W/out/acme/audit.jsonl")
[ "$events" = "$lines" ] && ok || fail "audit.jsonl has every event once ($lines of $events)"
[ "$(cut -d, -f1 "$W/out/acme/audit.jsonl" | sort | uniq -d | wc -l)" = 0 ] && ok || fail "no event forwarded twice"

# --- review findings, each kept as a test ----------------------------------

# a pipeline that recalculates without importing must not duplicate lines
cat >>"$cfg" <<'YAML'
  recalc:
    - stage: commissions
      plugin: commission_rules
      with: { min_payout: "100.00", rules: [ { name: flat, rate: "0.5" } ] }
YAML
run "$PAYRUN" run recalc --period 2026-02 --config "$cfg" --as alice
expect_rc 0 "calculator-only pipeline"
run "$PAYRUN" run recalc --period 2026-02 --config "$cfg" --as alice
expect_out "nothing to do" "calculator-only rerun is a no-op"
[ "$(q "SELECT count(*) FROM commission_lines WHERE period='2026-02'")" = "$(q "SELECT count(*) FROM attribution_lines WHERE period='2026-02'")" ] && ok || fail "one commission line per attribution line after recalc"
[ "$(q "SELECT count(*) FROM payouts p WHERE p.kind='commission' AND p.amount <> (SELECT sum(amount) FROM commission_lines c WHERE c.payout_id = p.id)")" = 0 ] && ok || fail "lines still sum to payouts after recalc"
[ "$(q "SELECT count(*) FROM commission_lines WHERE partner_id='BRIGHTPATH' AND payout_id IS NULL AND carried_to='2026-03'")" = 1 ] && ok || fail "the carried line is not duplicated"

# identical reruns started together: all succeed, nothing changes
before=$(q "SELECT count(*) FROM audit_events")
for i in 1 2 3; do ( "$PAYRUN" run close --period 2026-02 --config "$cfg" --as alice >"$T/par$i" 2>&1; echo $? >"$T/rc$i" ) & done
wait
[ "$(cat "$T/rc1" "$T/rc2" "$T/rc3" | sort -u)" = 0 ] && ok || fail "concurrent identical reruns all exit 0 ($(cat "$T/rc1" "$T/rc2" "$T/rc3" | tr '\n' ' '))"
[ "$(q "SELECT count(*) FROM audit_events")" = "$before" ] && ok || fail "concurrent identical reruns change nothing"

# a missing output comes back on an identical rerun, the others stay
rm "$W/out/acme/2026-02/payouts.csv"
j_before=$(sha256sum "$W/out/acme/2026-02/accrual.journal")
run "$PAYRUN" run close --period 2026-02 --config "$cfg" --as alice
expect_out "restored" "identical rerun restores a missing output"
[ -f "$W/out/acme/2026-02/payouts.csv" ] && ok || fail "payouts.csv restored"
[ "$(sha256sum "$W/out/acme/2026-02/accrual.journal")" = "$j_before" ] && ok || fail "present outputs untouched"

# a dry run leaves nothing: no rejects file, no database, no directory
write_config "$W/dry.yaml"
sed -i 's|database: db/acme.db|database: db/dry.db|; s|output_dir: out/|output_dir: out-dry/|' "$W/dry.yaml"
run "$PAYRUN" run close --period 2026-03 --config "$W/dry.yaml" --as alice --dry-run
expect_rc 65 "dry run with rejects fails"
[ ! -e "$W/db/dry.db" ] && ok || fail "a dry run creates no database"
[ ! -e "$W/out-dry" ] && ok || fail "a dry run creates no output directory"

# a payout deleted after the next period was closed: its lines are not
# stranded, the next close picks them up
D=$(q "SELECT id FROM payouts WHERE partner_id='DATAPIPE' AND period='2026-01'")
run "$PAYRUN" payouts delete "$D" --config "$cfg" --as alice
expect_rc 0 "delete a January payout after February's close"
run "$PAYRUN" run close --period 2026-04 --config "$cfg" --as alice
expect_rc 0 "close April"
[ "$(q "SELECT count(*) FROM commission_lines c JOIN payouts p ON p.id = c.payout_id WHERE p.period='2026-04' AND p.partner_id='DATAPIPE' AND c.period='2026-01'")" = 2 ] && ok || fail "January's lines paid in April"
[ "$(q "SELECT count(*) FROM commission_lines WHERE payout_id IS NULL AND carried_to < '2026-05'")" = 0 ] && ok || fail "no line left behind"

# a computed payout's amount cannot be typed over, and approval rules
# never decide about a hand-made payout
cat >>"$cfg" <<'YAML'
  reapprove:
    - stage: approvals
      plugin: approval_rules
      with: { auto_approve_below: "1000000.00" }
YAML
G=$(q "SELECT id FROM payouts WHERE partner_id='GROWTHLABS' AND period='2026-04'")
N=$(q "SELECT id FROM payouts WHERE partner_id='NEXGEN' AND period='2026-04'")
run "$PAYRUN" payouts update "$G" --amount 500.00 --config "$cfg" --as alice
expect_rc 65 "a computed amount is not typed over"
run "$PAYRUN" payouts create --partner OLDCO --amount 500.00 --period 2026-04 --config "$cfg" --as alice
expect_rc 0 "a payout by hand"
M=$(q "SELECT id FROM payouts WHERE partner_id='OLDCO' AND period='2026-04'")
run "$PAYRUN" run reapprove --period 2026-04 --config "$cfg" --as alice
expect_rc 0 "an approval-only pipeline"
[ "$(q "SELECT status FROM payouts WHERE id='$N'")" = approved ] && ok || fail "a computed payout is approved by the rule"
[ "$(q "SELECT status || '/' || approvals_required FROM payouts WHERE id='$M'")" = "pending_approval/2" ] && ok || fail "the hand-made payout is left to two people"

# holds are released when the rule no longer holds
write_config "$W/hold.yaml" '{ hold_without_payment_details: true }'
sed -i 's|database: db/acme.db|database: db/hold.db|; s|output_dir: out/|output_dir: out-hold/|' "$W/hold.yaml"
sed -i 's|in/partners.csv|in/hold-partners.csv|' "$W/hold.yaml"
sed 's/^GROWTHLABS,\(.*\),011000015,7720013344,,,GrowthLabs Co$/GROWTHLABS,\1,,,,,/' "$W/in/partners.csv" >"$W/in/hold-partners.csv"
run "$PAYRUN" run close --period 2026-02 --config "$W/hold.yaml" --as alice
expect_rc 0 "close with a hold rule"
hq() { sqlite3 "$W/db/hold.db" "$1"; }
G=$(hq "SELECT id FROM payouts WHERE partner_id='GROWTHLABS'")
[ "$(hq "SELECT hold_reason FROM payouts WHERE id='$G'")" = "no payment details on file" ] && ok || fail "held without payment details"
run "$PAYRUN" approve "$G" --config "$W/hold.yaml" --as bob
expect_rc 65 "a held payout cannot be approved"
cp "$W/in/partners.csv" "$W/in/hold-partners.csv"
run "$PAYRUN" run close --period 2026-02 --config "$W/hold.yaml" --as alice
expect_rc 0 "close again with payment details"
[ "$(hq "SELECT coalesce(hold_reason, 'none') FROM payouts WHERE id='$G'")" = none ] && ok || fail "hold released"
[ "$(hq "SELECT count(*) FROM audit_events WHERE entity_id='$G' AND action='payout.hold_released'")" = 1 ] && ok || fail "release audited"
run "$PAYRUN" approve "$G" --config "$W/hold.yaml" --as bob
expect_rc 0 "approvable once released"

# deleting a payout carries its lines forward instead of losing them
N=$(hq "SELECT id FROM payouts WHERE partner_id='NEXGEN'")
run "$PAYRUN" payouts delete "$N" --config "$W/hold.yaml" --as alice
expect_rc 0 "delete a pending commission payout"
[ "$(hq "SELECT count(*) FROM commission_lines WHERE partner_id='NEXGEN' AND payout_id IS NULL AND carried_to='2026-03' AND carry_reason='payout deleted'")" = 3 ] && ok || fail "deleted payout's lines carried to the next period"

# wiping the whole trail does not pass verification
sqlite3 "$W/db/hold.db" "DELETE FROM audit_events; DELETE FROM audit_heads;"
run "$PAYRUN" audit verify --config "$W/hold.yaml"
expect_rc 65 "a wiped trail fails verification"
expect_err "creation is not in the trail" "wipe reported"

finish
