#!/usr/bin/env bash
# test_operations.sh: the commands a finance team runs between closes
# (SPEC 8, issue 4): list with filters, search, sort and formats; show;
# create, update and delete while pending; approvals with their rules;
# bulk approval; reject, mark-*, retry; stats; partners show; roles; org
# isolation for every command; and many approvers at once.
set -e
. "$(dirname "$0")/lib.sh"
: "${BUILD:?BUILD must name the build tree}"

W="$T/work"
mkdir -p "$W/in" "$W/db"
cp "$SRC"/samples/*.csv "$W/in/"
approvers=""
for i in 1 2 3 4 5 6 7 8 9 10; do approvers="$approvers  a$i: [approver]"$'\n'; done
write_config() { # write_config FILE ORG [approvals with: block]
  cat >"$1" <<YAML
version: 1
org: $2
currency: USD
database: db/shared.db
plugin_path: [$BUILD/plugins]
output_dir: out/{org}/{period}
allow_actor_override: true
busy_timeout_ms: 20000
actors:
  alice: [preparer]
  bob: [approver]
  carol: [approver]
  dave: [payer]
$approvers
pipelines:
  close:
$(demo_close_stages)
    - stage: approvals
      plugin: approval_rules
      with: ${3:-{ two_approvals_from: "10000.00" \}}
YAML
}
write_config "$W/acme.yaml" acme
write_config "$W/beta.yaml" beta
export PAYRUN_CLOCK=2026-03-01T09:00:00Z
p() { run "$PAYRUN" "$@" --config "$W/acme.yaml"; }
pb() { run "$PAYRUN" "$@" --config "$W/beta.yaml"; }
q() { sqlite3 "$W/db/shared.db" "$1"; }
id_of() { q "SELECT id FROM payouts WHERE org='${3:-acme}' AND partner_id='$1' AND period='$2'"; }

p run close --period 2026-01 --as alice
expect_rc 0 "close January"
p run close --period 2026-02 --as alice
expect_rc 0 "close February"
TECH=$(id_of TECHSTAR 2026-01); DATA=$(id_of DATAPIPE 2026-01); CLOUD=$(id_of CLOUDBRIDGE 2026-01)
NEX=$(id_of NEXGEN 2026-02); GROW=$(id_of GROWTHLABS 2026-02)

# --- list ------------------------------------------------------------------
p payouts list
expect_rc 0 "list"
expect_out "5 payouts, 49000.00 USD shown" "list footer"
p payouts list --status pending_approval --period 2026-01
expect_out "3 of 5 payouts" "filtered footer"
p payouts list --search nexGEN
expect_out "$NEX" "search is case-insensitive on partner name"
expect_out "1 of 5 payouts" "search matches one"
p payouts list --search '%'
expect_out "0 of 5 payouts" "search escapes LIKE wildcards"
p payouts list --sort -amount --limit 2 --format csv
expect_rc 0 "sorted csv"
[ "$(printf '%s\n' "$out" | sed -n 2p | cut -d, -f4)" = NEXGEN ] && ok || fail "largest amount first"
[ "$(printf '%s\n' "$out" | sed -n 3p | cut -d, -f4)" = TECHSTAR ] && ok || fail "second largest next"
[ "$(printf '%s\n' "$out" | wc -l)" = 3 ] && ok || fail "limit 2 gives two rows and a header"
p payouts list --format json
printf '%s' "$out" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["total"] == 5 and d["matched"] == 5 and len(d["payouts"]) == 5, d
assert sum(int(x["amount"].replace(".", "")) for x in d["payouts"]) == 4900000
assert all(isinstance(x["amount"], str) for x in d["payouts"])
' && ok || fail "json is one parseable document with exact amounts"
p payouts list --status done
expect_rc 64 "unknown status"
p payouts list --sort colour
expect_rc 64 "unknown sort field"
expect_err "sort by amount, partner, period, created or status" "sort hint"

# --- show --------------------------------------------------------------------
p payouts show "$NEX"
expect_rc 0 "show"
expect_out "15200.00 USD" "show amount"
expect_out "approvals         0 of 2" "show approvals"
expect_out "commission lines  3, totalling 15200.00" "show lines and total"
expect_out "payout.created" "show history"
p payouts show po_doesnotexist
expect_rc 65 "show unknown id"

# --- approvals -----------------------------------------------------------------
p approve "$NEX" --as alice
expect_rc 77 "a preparer cannot approve"
p approve "$NEX" --as bob
expect_rc 0 "first of two approvals"
expect_out "waiting for more (1 of 2)" "waiting reported"
p approve "$NEX" --as bob
expect_rc 77 "same approver twice refused"
expect_err "has already approved" "twice named"
[ "$(q "SELECT count(*) FROM approvals WHERE payout_id='$NEX'")" = 1 ] && ok || fail "refusal changed nothing"
p approve "$NEX" --as carol
expect_rc 0 "second approval"
expect_out "approved (2 of 2 approvals)" "approved after two"
[ "$(q "SELECT status FROM payouts WHERE id='$NEX'")" = approved ] && ok || fail "NexGen approved"

# create by hand; its creator may not approve it
p payouts create --partner BRIGHTPATH --amount 250.00 --period 2026-02 --notes "=goodwill" --as alice
expect_rc 0 "create by hand"
MAN=$(q "SELECT id FROM payouts WHERE kind='manual'")
p payouts create --partner BRIGHTPATH --amount 1,000 --period 2026-02 --as alice
expect_rc 64 "bad amount refused"
expect_err "1,000" "bad amount named"
p payouts create --partner BRIGHTPATH --amount 5.00 --period 2026-02 --as alice
expect_rc 65 "second manual payout for the same key refused"
[ "$(q "SELECT approvals_required FROM payouts WHERE id='$MAN'")" = 2 ] && ok || fail "hand-made payout needs two approvals"
p payouts update "$MAN" --amount 300.00 --notes "goodwill, raised" --as alice
expect_rc 0 "update pending"
[ "$(q "SELECT amount FROM payouts WHERE id='$MAN'")" = 30000 ] && ok || fail "amount updated"
[ "$(q "SELECT count(*) FROM audit_events WHERE entity_id='$MAN' AND action='payout.updated' AND metadata LIKE '{\"before\":{\"amount\":25000,%' AND metadata LIKE '%\"after\":{\"amount\":30000,%'")" = 1 ] && ok || fail "update audited before/after"
sed -i 's/^  bob: \[approver\]/  bob: [approver]\n  alice2: [preparer, approver]/' "$W/acme.yaml"
p payouts create --partner OLDCO --amount 10.00 --period 2026-02 --as alice2
SELF=$(q "SELECT id FROM payouts WHERE partner_id='OLDCO'")
p approve "$SELF" --as alice2
expect_rc 77 "creator cannot approve"
expect_err "created payout" "creator refusal says why"
# a computed payout's amount cannot be typed over: its lines must add up
p payouts update "$GROW" --amount 6900.00 --as alice2
expect_rc 65 "a computed amount is not typed over"
expect_err "computed from its commission lines" "refusal says why"
# whoever types an amount cannot approve it, and it needs two approvers
p payouts update "$MAN" --amount 310.00 --as alice2
expect_rc 0 "a hand-made amount edited by another preparer"
[ "$(q "SELECT approvals_required FROM payouts WHERE id='$MAN'")" = 2 ] && ok || fail "edited amount needs two approvals"
p approve "$MAN" --as alice2
expect_rc 77 "the editor cannot approve"
expect_err "set the amount of payout" "editor refusal says why"
p payouts delete "$SELF" --as alice
expect_rc 0 "delete pending"
[ "$(q "SELECT count(*) FROM payouts WHERE id='$SELF'")" = 0 ] && ok || fail "deleted"
[ "$(q "SELECT count(*) FROM audit_events WHERE entity_id='$SELF' AND action='payout.deleted'")" = 1 ] && ok || fail "delete audited"

# bulk: one transaction, counts, skipped with why
p approve --all-pending --as bob
expect_rc 0 "bulk approve"
expect_out "approved 3, waiting for more approvals 2, skipped 0" "bulk counts"
p approve --all-pending --as bob
expect_out "skipped 2" "bulk skips what bob already approved"
expect_out "has already approved" "bulk skip says why"
p mark-processing "$DATA" "$NEX" "$TECH" --as dave
expect_rc 65 "mark-processing all or none"
expect_err "is pending_approval: cannot mark_processing" "the refused one is named"
[ "$(q "SELECT count(*) FROM payouts WHERE status='processing'")" = 0 ] && ok || fail "nothing moved on refusal"
p approve "$TECH" --as carol
expect_rc 0 "TechStar second approval"
p approve "$MAN" --as carol
expect_out "approved 1, waiting for more approvals 0" "a hand-set amount approved by a second approver"

# reject, mark-*, retry
p reject "$MAN" --as bob
expect_rc 64 "reject needs a reason"
p payouts update "$DATA" --notes x --as alice
expect_rc 65 "update after approval refused"
expect_err "is approved: cannot edit" "update refusal names state and move"
p mark-processing "$DATA" "$NEX" --as bob
expect_rc 77 "an approver is not a payer"
p mark-processing "$DATA" "$NEX" --as dave
expect_rc 0 "mark-processing"
p mark-failed "$DATA" --reason "account closed" --as dave
expect_rc 0 "mark-failed"
p retry "$DATA" --as dave
expect_rc 0 "retry failed"
[ "$(q "SELECT status FROM payouts WHERE id='$DATA'")" = approved ] && ok || fail "retry moves back to approved"
p mark-paid "$NEX" --reference WIRE-1 --as dave
p mark-paid "$TECH" --reference WIRE-2 --as dave
p mark-paid "$TECH" --reference WIRE-3 --as dave
expect_rc 65 "paid is final"
expect_err "is paid: cannot mark_paid" "final state named"

# --- stats and partners show -------------------------------------------------------
p stats --format json
printf '%s' "$out" | python3 -c '
import json, sys
d = json.load(sys.stdin)
s = d["statuses"]
assert s["paid"] == {"count": 2, "amount": "27650.00"}, s["paid"]
assert d["total"]["count"] == 6, d["total"]
assert d["total"]["amount"] == "49310.00", d["total"]
' && ok || fail "stats json"
p stats --period 2026-02
expect_out "pending_approval         0             0.00" "stats per period"
p partners show NEXGEN
expect_out "lifetime paid     15200.00 (1 payouts)" "partner lifetime paid"
expect_out "account ****8712" "account masked"

# --- org isolation: beta sees and changes nothing of acme ---------------------------
pb payouts list
expect_out "0 payouts" "beta lists nothing"
for cmd in "payouts show $NEX" "approve $GROW --as bob" "reject $GROW --reason x --as bob" \
           "payouts update $GROW --notes x --as alice" "payouts delete $GROW --as alice" \
           "mark-processing $DATA --as dave" "mark-paid $DATA --reference r --as dave" \
           "mark-failed $DATA --reason r --as dave" "retry $DATA --as dave"; do
  # shellcheck disable=SC2086
  pb $cmd
  if [ "$rc" -ne 0 ] && grep -q 'not found' <<<"$err"; then ok; else fail "beta: $cmd must be not found"; fi
done
pb stats --format json
printf '%s' "$out" | python3 -c 'import json,sys; assert json.load(sys.stdin)["total"]["count"] == 0' && ok || fail "beta counts nothing"
pb partners show NEXGEN
expect_rc 65 "beta has no NEXGEN"
pb audit list
expect_no_out "payout." "beta's audit list shows none of acme's events"
run "$PAYRUN" audit verify --config "$W/acme.yaml"
expect_rc 0 "acme chain intact after all this"

# --- audit list formats and filters ----------------------------------------------------
p audit list --entity "$NEX" --format json
printf '%s' "$out" | python3 -c '
import json, sys
d = json.load(sys.stdin)
ev = d["events"]
assert d["shown"] == len(ev) > 3, d["shown"]
assert all(e["entity_id"] == sys.argv[1] for e in ev)
assert [e["action"] for e in ev][0] == "payout.created"
assert ev[-1]["action"] == "payout.paid" and ev[-1]["metadata"]["after"]["reference"] == "WIRE-1", ev[-1]
seqs = [e["seq"] for e in ev]
assert seqs == sorted(seqs)
' "$NEX" && ok || fail "audit list json for one payout"
p audit list --action payout.approval_given --format csv
[ "$(printf '%s\n' "$out" | tail -n +2 | grep -c .)" = "$(q "SELECT count(*) FROM audit_events WHERE org='acme' AND action='payout.approval_given'")" ] && ok || fail "audit list csv filtered by action"
p audit list --since 2027-01-01
[ "$(printf '%s\n' "$out" | grep -c .)" = 1 ] && ok || fail "--since after every event shows only the header"
p audit list --since yesterday
expect_rc 64 "bad --since refused"

# --- many approvers at once -------------------------------------------------------------
write_config "$W/many.yaml" acme '{ two_approvals_from: "0.01", approvals_required: 10 }'
sed -i 's|db/shared.db|db/many.db|; s|output_dir: out/|output_dir: out-many/|' "$W/many.yaml"
run "$PAYRUN" run close --period 2026-01 --config "$W/many.yaml" --as alice
expect_rc 0 "close needing ten approvals"
pids=""
for i in 1 2 3 4 5 6 7 8 9 10; do
  for round in 1 2; do
    ( for try in 1 2 3 4 5; do
        "$PAYRUN" approve --all-pending --config "$W/many.yaml" --as "a$i" >/dev/null 2>&1 && break
        [ $? -eq 75 ] || break
      done ) &
    pids="$pids $!"
  done
done
wait $pids || true
m() { sqlite3 "$W/db/many.db" "$1"; }
[ "$(m "SELECT count(*) FROM payouts WHERE status='approved'")" = 3 ] && ok || fail "all three approved"
[ "$(m "SELECT count(*) FROM approvals")" = 30 ] && ok || fail "exactly ten approvals each ($(m "SELECT count(*) FROM approvals"))"
[ "$(m "SELECT count(*) FROM audit_events WHERE action='payout.approval_given'")" = 30 ] && ok || fail "one event per approval"
[ "$(m "SELECT count(*) FROM audit_events WHERE action='payout.approved'")" = 3 ] && ok || fail "one approved move each"
[ "$(m "SELECT count(*) FROM approvals a WHERE NOT EXISTS (SELECT 1 FROM audit_events e WHERE e.entity_id = a.payout_id AND e.action = 'payout.approval_given' AND e.actor = a.approver)")" = 0 ] && ok || fail "every approval is in the audit trail"
run "$PAYRUN" audit verify --config "$W/many.yaml"
expect_rc 0 "chain intact after concurrent approvals"

# --- a rule lowered to the approvals already given ------------------------------
# NexGen's 15200.00 needs two approvals; bob gives one. The rule then asks
# two only from 20000.00: the rerun approves it, credited to bob, with the
# run's actor on the event. A payout with no approval stays pending.
gamma() { # gamma [approvals with: block]
  write_config "$W/gamma.yaml" gamma "${1:-}"
  sed -i 's|db/shared.db|db/gamma.db|; s|output_dir: out/|output_dir: out-gamma/|' "$W/gamma.yaml"
}
g() { run "$PAYRUN" "$@" --config "$W/gamma.yaml"; }
gq() { sqlite3 "$W/db/gamma.db" "$1"; }
gamma
g run close --period 2026-02 --as alice
expect_rc 0 "gamma close"
GNEX=$(gq "SELECT id FROM payouts WHERE partner_id='NEXGEN' AND period='2026-02'")
g approve "$GNEX" --as bob
expect_out "waiting for more (1 of 2)" "one of two given"
gamma '{ two_approvals_from: "20000.00" }'
g run close --period 2026-02 --as alice
expect_rc 0 "rerun asking fewer approvals"
[ "$(gq "SELECT status || ' ' || approved_by || ' ' || approvals_required FROM payouts WHERE id='$GNEX'")" = "approved bob 1" ] && ok || fail "approved once its one approval was enough ($(gq "SELECT status, approved_by, approvals_required FROM payouts WHERE id='$GNEX'"))"
[ "$(gq "SELECT actor || ' ' || json_extract(metadata, '\$.approvals_given') || ' ' || json_extract(metadata, '\$.approved_by') FROM audit_events WHERE entity_id='$GNEX' AND action='payout.approved'")" = "alice 1 bob" ] && ok || fail "the approval is audited with the run's actor and the approver"
[ "$(gq "SELECT count(*) FROM payouts WHERE status='approved'")" = 1 ] && ok || fail "payouts without approvals stay pending"
g approve "$GNEX" --as carol
expect_rc 65 "an approved payout takes no more approvals"
run python3 "$SRC/tools/payrun-check" --db "$W/db/gamma.db" --org gamma
expect_rc 0 "the invariant checker replays the approval"
g audit verify
expect_rc 0 "gamma chain intact"
# credited, behind payrun's back, to an approver who gave no approval
sqlite3 "$W/db/gamma.db" "UPDATE audit_events SET metadata = json_set(metadata, '\$.approved_by', 'carol') WHERE entity_id = '$GNEX' AND action = 'payout.approved'"
run python3 "$SRC/tools/payrun-check" --db "$W/db/gamma.db" --org gamma
expect_out "credits 'carol', who gave it no approval" "the checker names an approval credited to someone else"

finish
