#!/usr/bin/env bash
# test_generated.sh: a close over a generated 100k-line file (1,000
# partners) and the conservation laws of SPEC 3, checked in SQL against
# the database: each payout's lines sum to it exactly; each payout is its
# lines' exact total rounded once; every imported line has exactly one
# commission line; what did not become a payout was carried forward with
# a reason; rows read = imported + rejected + not commissionable. Then the
# same close sorting in 1 MiB, and a close of one partner with more lines
# than the calculation holds in memory.
set -e
. "$(dirname "$0")/lib.sh"
: "${BUILD:?}" "${PAYRUN_GEN:?}"

W="$T/work"
mkdir -p "$W/in"
"$PAYRUN_GEN" --partners 1000 --lines 100000 --period 2026-02 --seed 7 --dir "$W/in"
cat >"$W/payrun.yaml" <<YAML
version: 1
org: gen
currency: USD
database: gen.db
plugin_path: [$BUILD/plugins]
allow_actor_override: true
actors: { alice: [preparer] }
pipelines:
  close:
$(demo_close_stages)
    - stage: approvals
      plugin: approval_rules
      with: { auto_approve_below: "1000.00", two_approvals_from: "10000.00", reject_inactive_partners: true }
    - stage: export
      plugin: export_csv
      with: { path: payouts.csv }
YAML
run "$PAYRUN" run close --period 2026-02 --config "$W/payrun.yaml" --as alice
expect_rc 0 "close of 100k lines"
q() { sqlite3 "$W/gen.db" "$1"; }

line=$(grep 'attribution_csv' <<<"$out")
count() { grep -oE "(^| )$1 [0-9]+" <<<"$line" | awk '{print $2}'; }
read_n=$(count read); imp=$(count imported); rej=$(count rejected); nc=$(count not_commissionable)
[ "$read_n" = 100000 ] && ok || fail "100000 rows read ($read_n)"
[ $((imp + rej + nc)) = "$read_n" ] && ok || fail "read = imported + rejected + not commissionable"
[ "$(q "SELECT count(*) FROM attribution_lines")" = "$imp" ] && ok || fail "imported lines stored"
[ "$(q "SELECT count(*) FROM commission_lines")" = "$imp" ] && ok || fail "one commission line per imported line"

# each payout's lines sum to it, to the cent
[ "$(q "SELECT count(*) FROM payouts p WHERE p.amount <> (SELECT sum(c.amount) FROM commission_lines c WHERE c.payout_id = p.id)")" = 0 ] && ok || fail "lines sum to every payout"
# each payout is its lines' exact total rounded once (within half a cent,
# and exactly half only where half-even chose the even cent)
[ "$(q "SELECT count(*) FROM payouts p, (SELECT payout_id, sum(CAST(exact AS INTEGER)) AS e FROM commission_lines WHERE payout_id IS NOT NULL GROUP BY payout_id) x WHERE x.payout_id = p.id AND abs(x.e - p.amount * 100000000) > 50000000")" = 0 ] && ok || fail "one rounding per payout"
[ "$(q "SELECT count(*) FROM payouts p, (SELECT payout_id, sum(CAST(exact AS INTEGER)) AS e FROM commission_lines WHERE payout_id IS NOT NULL GROUP BY payout_id) x WHERE x.payout_id = p.id AND abs(x.e - p.amount * 100000000) = 50000000 AND p.amount % 2 = 1")" = 0 ] && ok || fail "ties went to the even cent"
# each line's share is within one cent of its exact commission
[ "$(q "SELECT count(*) FROM commission_lines WHERE payout_id IS NOT NULL AND abs(CAST(exact AS INTEGER) - amount * 100000000) >= 100000000")" = 0 ] && ok || fail "shares within a cent of exact"
# what is not paid out is carried, with a reason, and for a reason
[ "$(q "SELECT count(*) FROM commission_lines WHERE payout_id IS NULL AND (carried_to <> '2026-03' OR carry_reason IS NULL)")" = 0 ] && ok || fail "every unpaid line carried with a reason"
[ "$(q "SELECT count(*) FROM (SELECT partner_id, sum(CAST(exact AS INTEGER)) AS e FROM commission_lines WHERE payout_id IS NULL GROUP BY partner_id) WHERE e >= 999950000000")" = 0 ] && ok || fail "only totals under min_payout were carried"
[ "$(q "SELECT count(DISTINCT partner_id) FROM commission_lines WHERE payout_id IS NULL")" -gt 0 ] && ok || fail "the data set exercises roll-over"
[ "$(q "SELECT count(*) FROM commission_lines c JOIN attribution_lines a ON a.id = c.attribution_line_id WHERE a.attributed_amount < 0")" -gt 0 ] && ok || fail "the data set exercises clawbacks"
# partners' exact totals: paid out + carried = all of their lines
[ "$(q "SELECT count(*) FROM (SELECT partner_id, count(DISTINCT coalesce(payout_id, 'carried')) AS k FROM commission_lines GROUP BY partner_id) WHERE k > 1")" = 0 ] && ok || fail "a partner's lines are either all paid out or all carried"
# the export lists every payout
[ "$(($(wc -l <"$W/out/gen/2026-02/payouts.csv") - 1))" = "$(q "SELECT count(*) FROM payouts")" ] && ok || fail "export lists every payout"
run "$PAYRUN" audit verify --config "$W/payrun.yaml"
expect_rc 0 "audit chain after a large close"

# The same close sorting in 1 MiB (PAYRUN_SORT_MEMORY): the lines go
# through a temporary file in sorted runs, merged back. Every stored line,
# commission line and payout is the same as with the default memory.
sed 's|^database: gen.db|database: gen-small.db|' "$W/payrun.yaml" >"$W/small.yaml"
echo "output_dir: out-small/{org}/{period}" >>"$W/small.yaml"
PAYRUN_SORT_MEMORY=1 TMPDIR="$T/nowhere" run "$PAYRUN" run close --period 2026-02 --config "$W/small.yaml" --as alice
expect_rc 74 "no room for the sort's temporary file"
expect_err "the temporary file of sorted attribution lines in $T/nowhere" "the directory is named"
expect_err "hint: set TMPDIR to a writable directory" "what to do"
[ "$(sqlite3 "$W/gen-small.db" "SELECT count(*) FROM runs")" = 0 ] && ok || fail "the failed close changed nothing"
mkdir -p "$T/sorttmp"
PAYRUN_SORT_MEMORY=1 TMPDIR="$T/sorttmp" run "$PAYRUN" run close --period 2026-02 --config "$W/small.yaml" --as alice
expect_rc 0 "close sorting in 1 MiB"
[ -z "$(ls -A "$T/sorttmp")" ] && ok || fail "the temporary file is gone"
same() { # same SQL: one answer from both databases
  [ "$(sqlite3 "$W/gen.db" "$1" | sha256sum)" = "$(sqlite3 "$W/gen-small.db" "$1" | sha256sum)" ]
}
same "SELECT id, partner_id, deal_id, source_line, deal_name, closed_on, model, percentage, attributed_amount, product_line FROM attribution_lines ORDER BY id" && ok || fail "the same lines, in the same order"
same "SELECT attribution_line_id, partner_id, payout_id, rule, rate, exact, amount, carried_to, carry_reason FROM commission_lines ORDER BY attribution_line_id" && ok || fail "the same commission lines"
same "SELECT id, partner_id, amount, status, approvals_required FROM payouts ORDER BY id" && ok || fail "the same payouts"

# One partner with 40,000 lines: past the 32,768 a calculation holds in
# memory, its priced lines go to a temporary file in TMPDIR and its payout
# is shared by passes over it. Without a TMPDIR the close stops there
# (the import's 40,000 lines fit the sorter's memory, so the calculation's
# file is the one that fails); with one, the laws above hold.
mkdir -p "$W/one"
"$PAYRUN_GEN" --partners 1 --lines 40000 --period 2026-02 --seed 5 --dir "$W/one"
sed -e 's|^database: gen.db|database: one.db|' -e 's|"in/attr|"one/attr|' -e 's|partners: "in/|partners: "one/|' "$W/payrun.yaml" >"$W/one.yaml"
echo "output_dir: out-one/{org}/{period}" >>"$W/one.yaml"
grep -q '^database: one\.db' "$W/one.yaml" && grep -q 'path: "one/attr' "$W/one.yaml" &&
  grep -q 'partners: "one/partners\.csv"' "$W/one.yaml" && ok ||
  fail "one.yaml names one.db and the one-partner files: $(grep -n 'db\|partners' "$W/one.yaml")"
TMPDIR="$T/nowhere" run "$PAYRUN" run close --period 2026-02 --config "$W/one.yaml" --as alice
expect_rc 74 "no room for the large partner's temporary file"
expect_err "creating the temporary file of partner" "the calculation's file is named"
expect_err "commission lines in $T/nowhere" "with its directory"
expect_err "hint: set TMPDIR to a writable directory" "what to do"
[ "$(sqlite3 "$W/one.db" "SELECT count(*) FROM runs")" = 0 ] && ok || fail "the failed close changed nothing"
mkdir -p "$T/onetmp"
TMPDIR="$T/onetmp" run "$PAYRUN" run close --period 2026-02 --config "$W/one.yaml" --as alice
expect_rc 0 "close of one partner with 40,000 lines"
[ -z "$(ls -A "$T/onetmp")" ] && ok || fail "the calculation's temporary file is gone"
q1() { sqlite3 "$W/one.db" "$1"; }
[ "$(q1 "SELECT count(*) FROM commission_lines")" -gt 32768 ] && ok || fail "the partner has more lines than a calculation holds"
[ "$(q1 "SELECT count(*) FROM payouts")" = 1 ] && ok || fail "one payout"
[ "$(q1 "SELECT count(*) FROM payouts p WHERE p.amount <> (SELECT sum(c.amount) FROM commission_lines c WHERE c.payout_id = p.id)")" = 0 ] && ok || fail "the large partner's lines sum to its payout"
[ "$(q1 "SELECT count(*) FROM commission_lines WHERE payout_id IS NULL OR abs(CAST(exact AS INTEGER) - amount * 100000000) >= 100000000")" = 0 ] && ok || fail "every share within a cent of its exact commission"
[ "$(q1 "SELECT count(*) FROM payouts p, (SELECT sum(CAST(exact AS INTEGER)) AS e FROM commission_lines) x WHERE abs(x.e - p.amount * 100000000) > 50000000")" = 0 ] && ok || fail "the large payout is its lines' total rounded once"

finish
