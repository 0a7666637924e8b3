#!/usr/bin/env bash
# test_demo.sh: the README's demo, on config/demo.yaml and samples/ as
# shipped (with the build's plugin directory): it must end with the five
# demo payouts, 49,000.00 in all, in the statuses the README shows, the
# bank files in place and the audit trail intact.
set -e
. "$(dirname "$0")/lib.sh"
: "${BUILD:?}"

mkdir -p "$T/config" "$T/samples" "$T/var"
cp "$SRC"/samples/*.csv "$T/samples/"
sed "s|plugin_path: \[../build/plugins\]|plugin_path: [$BUILD/plugins]|" "$SRC/config/demo.yaml" >"$T/config/demo.yaml"
export PAYRUN_CONFIG="$T/config/demo.yaml"
q() { sqlite3 "$T/var/acme.db" "$1"; }
id_of() { q "SELECT id FROM payouts WHERE partner_id='$1' AND period='$2'"; }
step() { run "$PAYRUN" "$@"; expect_rc 0 "payrun $*"; }

step config check
step run close --period 2026-01 --as alice
step run close --period 2026-02 --as alice
step approve "$(id_of TECHSTAR 2026-01)" "$(id_of CLOUDBRIDGE 2026-01)" --as bob
step approve "$(id_of TECHSTAR 2026-01)" --as carol
step run pay --period 2026-01 --as bob
step run settle --period 2026-01 --as bob
step approve "$(id_of DATAPIPE 2026-01)" --as bob

step stats --format json
printf '%s' "$out" | python3 -c '
import json, sys
d = json.load(sys.stdin)
s = d["statuses"]
assert d["total"] == {"count": 5, "amount": "49000.00"}, d["total"]
assert s["pending_approval"] == {"count": 2, "amount": "22000.00"}, s
assert s["approved"] == {"count": 1, "amount": "5630.00"}, s
assert s["paid"] == {"count": 2, "amount": "21370.00"}, s
' && ok || fail "the demo's five payouts in their statuses"
for want in "CLOUDBRIDGE|8920.00|paid" "DATAPIPE|5630.00|approved" "TECHSTAR|12450.00|paid" \
            "GROWTHLABS|6800.00|pending_approval" "NEXGEN|15200.00|pending_approval"; do
  [ "$(q "SELECT partner_id || '|' || printf('%d.%02d', amount / 100, amount % 100) || '|' || status FROM payouts WHERE partner_id = '${want%%|*}'")" = "$want" ] && ok || fail "demo payout $want"
done
[ "$(ls "$T"/out/acme/2026-01/ach-2026-01-*.txt | wc -l)" = 1 ] && ok || fail "the ACH file is written"
[ "$(ls "$T"/out/acme/2026-01/pain001-2026-01-*.xml | wc -l)" = 1 ] && ok || fail "the pain.001 file is written"
[ "$(q "SELECT reference FROM payouts WHERE partner_id='TECHSTAR'")" = ACH-2026-0131-001 ] && ok || fail "settled with the bank's reference"
step audit verify
# the sink forwards what the last pipeline run had committed; the final
# approval waits for the next run
[ "$(q "SELECT max(seq) FROM audit_events WHERE action = 'run.completed'")" = "$(wc -l <"$T/out/acme/audit.jsonl")" ] && ok || fail "the audit trail forwarded up to the last run"

finish
