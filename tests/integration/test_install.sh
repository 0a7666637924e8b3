#!/usr/bin/env bash
# test_install.sh: payrun as a plugin author gets it. Install into a
# temporary prefix; build the sample approval rule (samples/approval-rule)
# out of tree against the installed header, once through the CMake package
# and once through pkg-config; run a close with the installed payrun and
# plugins plus the sample, and check the sample's decisions.
set -e
. "$(dirname "$0")/lib.sh"
: "${BUILD:?}"

prefix="$T/prefix"
run cmake --install "$BUILD" --prefix "$prefix"
expect_rc 0 "cmake --install"
[ -x "$prefix/bin/payrun" ] && ok || fail "payrun installed"
[ -f "$prefix/include/payrun/plugin.h" ] && ok || fail "header installed"
[ -f "$prefix/share/man/man1/payrun.1" ] && ok || fail "man page installed"
plugdir=$(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --variable=plugindir payrun-plugin)
[ -f "$plugdir/commission_rules.so" ] && ok || fail "plugins installed where pkg-config says"

# the sample, out of tree, through find_package(PayrunPlugin)
cp -r "$SRC/samples/approval-rule" "$T/sample"
run cmake -S "$T/sample" -B "$T/sample/build" -DCMAKE_PREFIX_PATH="$prefix"
expect_rc 0 "configure the sample against the installed package"
run cmake --build "$T/sample/build"
expect_rc 0 "build the sample"
[ -f "$T/sample/build/jump_guard.so" ] && ok || fail "jump_guard.so built"
# and through pkg-config, by hand
run sh -c "cc -shared -fPIC $(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags payrun-plugin) -o '$T/sample/jg-pc.so' '$T/sample/jump_guard.c'"
expect_rc 0 "build the sample with pkg-config's flags"
[ "$(nm -D --defined-only "$T/sample/jg-pc.so" | grep -c ' T ')" = 1 ] && ok || fail "the sample exports one symbol"

PAYRUN_PLUGIN_PATH="$T/sample/build" run "$prefix/bin/payrun" plugins describe jump_guard
expect_rc 0 "the installed payrun describes the sample"
expect_out "jump_percent" "its keys"

# a close with the installed payrun: GrowthLabs jumps from 800.00 to 4,000.00
# in February; NexGen is paid for the first time
mkdir -p "$T/w/in"
cp "$SRC/samples/partners.csv" "$T/w/in/"
cat >"$T/w/in/attributions-2026-01.csv" <<'CSV'
deal_id,deal_name,deal_status,closed_on,partner_id,model,percentage,attributed_amount,currency,product_line
J-1,January deal,won,2026-01-10,GROWTHLABS,first_touch,100,10000.00,USD,platform
CSV
cat >"$T/w/in/attributions-2026-02.csv" <<'CSV'
deal_id,deal_name,deal_status,closed_on,partner_id,model,percentage,attributed_amount,currency,product_line
F-1,February deal,won,2026-02-10,GROWTHLABS,first_touch,100,50000.00,USD,platform
F-2,First for NexGen,won,2026-02-11,NEXGEN,first_touch,100,20000.00,USD,platform
CSV
cat >"$T/w/payrun.yaml" <<YAML
version: 1
org: acme
currency: USD
database: acme.db
plugin_path: [$T/sample/build, $plugdir]
allow_actor_override: true
actors: { alice: [preparer] }
pipelines:
  close:
    - stage: import
      plugin: attribution_csv
      with: { path: "in/attributions-{period}.csv", partners: in/partners.csv }
    - stage: commissions
      plugin: commission_rules
      with: { min_payout: "100.00" }
    - stage: approvals
      plugin: approval_rules
    - stage: guard
      plugin: jump_guard
      with: { hold_first_payout: true }
YAML
export PAYRUN_CLOCK=2026-03-01T09:00:00Z
run "$prefix/bin/payrun" run close --period 2026-01 --config "$T/w/payrun.yaml" --as alice
expect_rc 0 "January close with the sample"
run "$prefix/bin/payrun" run close --period 2026-02 --config "$T/w/payrun.yaml" --as alice
expect_rc 0 "February close with the sample"
expect_out "jumps 1" "the sample counted one jump"
q() { sqlite3 "$T/w/acme.db" "$1"; }
[ "$(q "SELECT approvals_required FROM payouts WHERE partner_id='GROWTHLABS' AND period='2026-02'")" = 2 ] && ok || fail "the jump needs two approvers"
[ "$(q "SELECT count(*) FROM audit_events WHERE action='payout.approvals_required' AND metadata LIKE '%\"rule\":\"jump_guard\"%'")" = 1 ] && ok || fail "the decision is audited with the sample's rule"
[ "$(q "SELECT hold_reason FROM payouts WHERE partner_id='NEXGEN' AND period='2026-02'")" = "first payout to this partner" ] && ok || fail "the first payout is held"
[ "$(q "SELECT hold_reason FROM payouts WHERE partner_id='GROWTHLABS' AND period='2026-01'")" = "first payout to this partner" ] && ok || fail "January's first payout was held too"

finish
