#!/usr/bin/env bash
# test_checker.sh: the invariant checker (tools/payrun-check, issue 7) on
# real payrun output. The real payrun builds a state with everything in
# it: two closes of the demo samples with accrual journals in hledger,
# ledger and beancount syntax, approvals, a pay run (NACHA and pain.001),
# a settle with a failure, a retry, a second pay run and settle, a
# rejection, a deletion and manual payouts after the close, and a second
# org from generated data in the same database. The checker must pass it
# with every figure printed. Then each kind of damage, done to a copy
# (a payout amount, an audit event deleted or edited, a commission line,
# a bank file cut short or with a byte changed, a `.tmp-PID` file left
# behind, a journal amount, ...), must fail the checker naming the check.
set -e
. "$(dirname "$0")/lib.sh"
: "${BUILD:?}" "${PAYRUN_GEN:?}"
CHECK="$SRC/tools/payrun-check"

W="$T/work"
mkdir -p "$W/in" "$W/gen"
cp "$SRC"/samples/*.csv "$W/in/"
"$PAYRUN_GEN" --partners 200 --lines 4000 --period 2026-03 --seed 11 --dir "$W/gen" >/dev/null
write_config() { # write_config FILE ORG IMPORT_PATH PARTNERS
  cat >"$1" <<YAML
version: 1
org: $2
currency: USD
database: payrun.db
plugin_path: [$BUILD/plugins]
output_dir: out/{org}/{period}
allow_actor_override: true
actors:
  alice: [preparer]
  bob: [approver, payer]
  carol: [approver]
pipelines:
  close:
$(demo_close_stages "$3" "$4")
    - stage: approvals
      plugin: approval_rules
      with: { auto_approve_below: "1000.00", two_approvals_from: "10000.00", reject_inactive_partners: true }
    - stage: export
      plugin: export_csv
      with: { path: payouts.csv }
    - stage: journal
      plugin: export_ledger
      with: { format: hledger, path: accrual.journal }
    - stage: ledger
      plugin: export_ledger
      with: { format: ledger, path: accrual.ledger }
    - stage: beancount
      plugin: export_ledger
      with: { format: beancount, path: accrual.beancount }
    - stage: audit
      plugin: audit_jsonl
      with: { path: ../audit.jsonl }
  pay:
    - stage: ach
      plugin: bank_nacha
      with:
        company_name: ACME CORP
        company_id: "1234567890"
        odfi: "021000021"
        destination: "021000021"
        origin: "1234567890"
    - stage: sepa
      plugin: bank_pain001
      with:
        debtor_name: Acme Corp
        debtor_iban: DE89370400440532013000
        debtor_bic: COBADEFFXXX
    - stage: processing
      plugin: status_transitions
      with: { mode: mark_processing }
    - stage: audit
      plugin: audit_jsonl
      with: { path: ../audit.jsonl }
  settle:
    - stage: results
      plugin: status_transitions
      with: { mode: apply_results, path: "in/results-{period}.csv" }
    - stage: journal
      plugin: export_ledger
      with: { format: hledger, journal: payment, path: "payment-{run}.journal" }
    - stage: beancount
      plugin: export_ledger
      with: { format: beancount, journal: payment, path: "payment-{run}.beancount" }
    - stage: audit
      plugin: audit_jsonl
      with: { path: ../audit.jsonl }
YAML
}
write_config "$W/acme.yaml" acme "in/attributions-{period}.csv" in/partners.csv
write_config "$W/gen.yaml" gen "gen/attributions-{period}.csv" gen/partners.csv
db="$W/payrun.db"
q() { sqlite3 "$db" "$1"; }
id_of() { q "SELECT id FROM payouts WHERE org='acme' AND partner_id='$1' AND period='$2' AND kind='${3:-commission}'"; }
A() { run "$PAYRUN" "$@" --config "$W/acme.yaml"; expect_rc 0 "acme: payrun $*"; }
G() { run "$PAYRUN" "$@" --config "$W/gen.yaml"; expect_rc 0 "gen: payrun $*"; }
results() { # results PERIOD LINE...: the bank's answer file
  local p=$1; shift
  { echo "payout_id,status,reference,reason"; printf '%s\n' "$@"; } >"$W/in/results-$p.csv"
}

# --- build the state with the real payrun ------------------------------------
export PAYRUN_CLOCK=2026-02-02T10:00:00Z
A run close --period 2026-01 --as alice
A run close --period 2026-02 --as alice
DATA=$(id_of DATAPIPE 2026-01); TECH=$(id_of TECHSTAR 2026-01); CLOUD=$(id_of CLOUDBRIDGE 2026-01)
A approve --all-pending --period 2026-01 --as bob
A approve "$TECH" --as carol
A run pay --period 2026-01 --as bob
results 2026-01 "$DATA,paid,ACH-1," "$TECH,failed,,account closed" "$CLOUD,paid,SEPA-1,"
export PAYRUN_CLOCK=2026-02-05T10:00:00Z
A run settle --period 2026-01 --as bob
A retry "$TECH" --as bob
A run pay --period 2026-01 --as bob
results 2026-01 "$TECH,paid,ACH-2,"
export PAYRUN_CLOCK=2026-02-09T10:00:00Z
A run settle --period 2026-01 --as bob
# after February's close: a rejection, a deletion (its lines carried on),
# a manual payout paid outside a bank file, and one left pending
A reject "$(id_of GROWTHLABS 2026-02)" --reason "duplicate claim" --as bob
A payouts delete "$(id_of NEXGEN 2026-02)" --as alice
A payouts create --partner DATAPIPE --amount 250.00 --period 2026-02 --notes bonus --as alice
MAN=$(id_of DATAPIPE 2026-02 manual)
A approve "$MAN" --as bob
A approve "$MAN" --as carol
A mark-paid "$MAN" --reference WIRE-7 --as bob
A payouts create --partner BRIGHTPATH --amount 120.00 --period 2026-02 --as alice
# a second org in the same database, from generated data
G run close --period 2026-03 --as alice
G approve --all-pending --as bob
G approve --all-pending --as carol
G run pay --period 2026-03 --as bob
[ "$(ls "$W"/out/acme/2026-01/ach-*.txt | wc -l)" = 2 ] && ok || fail "two ACH files for January"
[ "$(q "SELECT count(*) FROM payouts WHERE org='gen' AND status='processing'")" -gt 50 ] && ok || fail "generated payouts in a bank file"
step_audit=$(q "SELECT count(*) FROM audit_events WHERE org='acme'")

# --- the checker passes the real state, printing every figure ----------------
cd "$W"
sum_before=$(sha256sum payrun.db | cut -c1-64)
run "$CHECK" --db payrun.db --org acme --out out
expect_rc 0 "checker passes acme"
for want in "conservation: " "journals: " "bank files: " "audit: " "sqlite: " "files: "; do
  grep -q "^$want" <<<"$out" && ok || fail "figure line '$want' printed"
done
expect_out "0 mismatches" "conservation figures"
expect_out "0 unbalanced" "journal figures"
expect_out "2 NACHA (3 payments" "two NACHA files, three entries"
expect_out "1 pain.001 (1 payments, 8920.00 USD)" "pain.001 figures"
expect_out "audit: $step_audit events chained" "audit figures"
expect_out "integrity_check ok, 0 foreign key violations" "sqlite figures"
expect_out "0 partial" "files figures"
expect_out "6 passed, 0 failed" "summary line"
expect_no_out "FAILED" "nothing failed"
echo "$out" | sed 's/^/  acme> /'
[ "$(sha256sum payrun.db | cut -c1-64)" = "$sum_before" ] && ok || fail "the checker changed the database"
run "$CHECK" --db payrun.db --org gen --out out
expect_rc 0 "checker passes the generated org"
expect_out "6 passed, 0 failed" "generated org summary"
echo "$out" | sed 's/^/  gen> /'

# usage errors exit 2
run "$CHECK" --db payrun.db
expect_rc 2 "--org is required"
run "$CHECK" --db nosuch.db --org acme
expect_rc 2 "missing database"
run "$CHECK" --db payrun.db --org nosuchorg
expect_rc 2 "unknown org"

# --- each kind of damage is caught, naming the check -------------------------
# tamper NAME CHECK FUNCTION [WHY]: a fresh copy of the state in $C
# (C/payrun.db, C/out), FUNCTION damages it (run in $C), and the checker
# must then exit 1 with "CHECK: FAILED" (and WHY among its problems).
tamper() {
  local name=$1 check=$2 fn=$3 why=${4:-}
  C="$T/copy"
  rm -rf "$C"; mkdir -p "$C"
  cp "$W"/payrun.db* "$C/"; cp -r "$W/out" "$C/out"
  if ! (cd "$C" && set -e && "$fn"); then
    failed=$((failed + 1)); echo "FAIL: tamper '$name' could not be applied" >&2; return
  fi
  run "$CHECK" --db "$C/payrun.db" --org acme --out "$C/out"
  expect_rc 1 "tampered ($name): checker fails"
  expect_out "$check: FAILED" "tampered ($name): names the $check check"
  [ -z "$why" ] || expect_out "$why" "tampered ($name): says why"
  echo "  $name -> $(grep -m1 "^  $check: " <<<"$out" | sed 's/^ *//')"
}
cq() { sqlite3 payrun.db "$1"; }
J=out/acme/2026-01
ACH=$J/$(cd "$W/$J" && ls ach-*.txt | head -1)
PAIN=$J/$(cd "$W/$J" && ls pain001-*.xml)
PAYJ=$J/$(cd "$W/$J" && ls payment-*.journal | tail -1)
PENDING=$(q "SELECT id FROM payouts WHERE org='acme' AND status='pending_approval' LIMIT 1")

t_payout_amount()   { cq "UPDATE payouts SET amount = amount + 1 WHERE id = '$DATA'"; }
t_manual_amount()   { cq "UPDATE payouts SET amount = 99999 WHERE id = '$MAN'"; }
t_line_amount()     { cq "UPDATE commission_lines SET amount = amount + 1 WHERE attribution_line_id =
                          (SELECT min(attribution_line_id) FROM commission_lines WHERE payout_id = '$TECH')"; }
t_line_unlinked()   { cq "UPDATE commission_lines SET payout_id = NULL WHERE payout_id = '$CLOUD'"; }
t_line_exact()      { cq "UPDATE commission_lines SET exact = exact || '0' WHERE payout_id = '$DATA'"; }
# The same values, spelt with a leading zero: payrun never writes that.
t_exact_spelling()  { cq "UPDATE commission_lines SET exact = '0' || exact WHERE payout_id = '$DATA' AND exact <> '0'"; }
t_line_deleted()    { cq "DELETE FROM commission_lines WHERE payout_id = '$DATA'"; }
t_event_deleted()   { cq "DELETE FROM audit_events WHERE org = 'acme' AND seq = 20"; }
t_last_deleted()    { cq "DELETE FROM audit_events WHERE org = 'acme' AND seq = (SELECT max(seq) FROM audit_events WHERE org = 'acme')"; }
t_event_edited()    { cq "UPDATE audit_events SET actor = 'mallory' WHERE org = 'acme' AND seq = 5"; }
t_trail_wiped()     { cq "DELETE FROM audit_events WHERE org = 'acme'; DELETE FROM audit_heads WHERE org = 'acme'"; }
t_status()          { cq "UPDATE payouts SET status = 'approved' WHERE id = '$PENDING'"; }
t_approval_lost()   { cq "DELETE FROM approvals WHERE payout_id = '$TECH' AND approver = 'carol'"; }
t_reference()       { cq "UPDATE payouts SET reference = 'ACH-9' WHERE id = '$DATA'"; }
t_foreign_key()     { cq "DELETE FROM partners WHERE org = 'acme' AND partner_id = 'TECHSTAR'"; }
t_ach_cut()         { truncate -s 500 "$ACH"; }
t_ach_amount()      { sed -i '3s/^\(.\{38\}\)./\19/' "$ACH"; }   # last digit of the first entry's amount
t_ach_name_byte()   { sed -i '3s/^\(.\{60\}\)./\1Q/' "$ACH"; }   # a letter of the receiver's name
t_pain_ctrlsum()    { sed -i '0,/<CtrlSum>/s/<CtrlSum>[0-9.]*/<CtrlSum>1.00/' "$PAIN"; }
t_pain_cut()        { truncate -s 900 "$PAIN"; }
t_pain_removed()    { rm "$PAIN"; }
t_pain_not_placed() { mv "$PAIN" "$PAIN.tmp-4242"; }   # committed, never renamed into place
t_tmp_left()        { echo partial >"$J/payouts.csv.tmp-123"; }
t_jsonl_cut()       { truncate -s -5 out/acme/audit.jsonl; }
t_csv_cut()         { truncate -s -40 "$J/payouts.csv"; }
t_journal_unbal()   { sed -i '0,/ 5630\.00 USD/s// 5630.01 USD/' "$J/accrual.journal"; }
t_journal_both()    { sed -i 's/ 5630\.00 USD/ 5630.10 USD/; s/ -5630\.00 USD/ -5630.10 USD/' "$J/accrual.journal"; }
t_ledger_amount()   { sed -i '0,/ 8920\.00 USD/s// 8920.50 USD/' "$J/accrual.ledger"; }
t_bean_amount()     { sed -i 's/ 8920\.00 USD/ 8902.00 USD/; s/ -8920\.00 USD/ -8902.00 USD/' "$J/accrual.beancount"; }
t_journal_dropped() { # the first transaction of February's accrual, and its blank line
  awk '/^20[0-9][0-9]-/ && !done {s = 1; done = 1; next} s && /^$/ {s = 0; next} !s' \
    out/acme/2026-02/accrual.journal >x && mv x out/acme/2026-02/accrual.journal; }
t_journal_redone()  { # the same, with its closing summary made to fit
  t_journal_dropped
  sed -i 's/^; transactions: 2, accrued: 22000.00 USD/; transactions: 1, accrued: 15200.00 USD/' \
    out/acme/2026-02/accrual.journal; }
t_payj_cut()        { truncate -s -60 "$PAYJ"; }

tamper "payout amount changed with sqlite3" conservation t_payout_amount
tamper "payout amount changed with sqlite3" audit t_payout_amount
tamper "manual payout amount changed" audit t_manual_amount
tamper "commission line amount edited" conservation t_line_amount
tamper "commission lines unlinked from their payout" conservation t_line_unlinked
tamper "exact value edited" conservation t_line_exact
tamper "exact value spelt with a leading zero" conservation t_exact_spelling "not an integer as payrun writes it"
tamper "commission lines deleted" conservation t_line_deleted
tamper "audit event deleted" audit t_event_deleted "sequence gap"
tamper "last audit event deleted" audit t_last_deleted
tamper "audit event edited" audit t_event_edited "hash mismatch"
tamper "audit trail wiped with its head" audit t_trail_wiped
tamper "status moved behind payrun's back" audit t_status
tamper "an approval lost" audit t_approval_lost
tamper "bank reference changed" audit t_reference
tamper "partner deleted under its payouts" sqlite t_foreign_key
tamper "NACHA file cut short" "bank files" t_ach_cut
tamper "NACHA amount digit changed" "bank files" t_ach_amount "the trail moved"
tamper "NACHA name byte changed" "bank files" t_ach_name_byte "SHA-256"
tamper "pain.001 control sum changed" "bank files" t_pain_ctrlsum
tamper "pain.001 cut short" "bank files" t_pain_cut
tamper "bank file removed" "bank files" t_pain_removed "it is not in the output directory"
tamper "bank file never put in place" "bank files" t_pain_not_placed "its bytes are only in"
tamper "bank file never put in place" files t_pain_not_placed "under a temporary name"
tamper "partial .tmp-123 file left" files t_tmp_left
tamper "audit JSON Lines cut short" files t_jsonl_cut
tamper "payouts.csv cut short" files t_csv_cut
tamper "journal amount (unbalanced)" journals t_journal_unbal
tamper "journal amount (balanced, wrong)" journals t_journal_both "is not the accrual of 2026-01"
tamper "ledger journal amount" journals t_ledger_amount
tamper "beancount journal amount (balanced, wrong)" journals t_bean_amount "is not the accrual of 2026-01"
tamper "journal transaction dropped" journals t_journal_dropped
tamper "journal transaction dropped, summary fixed" journals t_journal_redone
tamper "payment journal cut short" journals t_payj_cut

finish
