#!/usr/bin/env bash
# test_cli.sh: the command line of the foundation: help, plugins list and
# describe, config check, audit verify and list, and exit codes (SPEC 8).
set -e
. "$(dirname "$0")/lib.sh"
FIX="$SRC/tests/fixtures"

# --- help ---------------------------------------------------------------
run "$PAYRUN" --help
expect_rc 0 "--help"
for c in "plugins list" "plugins describe" "config check" "audit verify" "audit list"; do
  expect_out "$c" "--help lists $c"
done
expect_out "75 database busy" "--help lists exit codes"
run "$PAYRUN" audit verify --help
expect_rc 0 "command help"
expect_out "usage: payrun audit verify" "command help usage"
run "$PAYRUN"
expect_rc 64 "no command"
run "$PAYRUN" frobnicate
expect_rc 64 "unknown command"
expect_err 'unknown command "frobnicate"' "unknown command named"
run "$PAYRUN" audit verify --bogus --config "$FIX/config/good-minimal.yaml"
expect_rc 64 "unknown option"
expect_err 'unknown option "--bogus"' "unknown option named"
run "$PAYRUN" --version
expect_out "plugin ABI 1" "--version shows ABI"
# output that cannot be written is an error, not a silent exit 0
run sh -c 'exec "$0" --version >/dev/full' "$PAYRUN"
expect_rc 74 "stdout on a full device"
expect_err "payrun: cannot write to standard output: No space left on device" "the lost output named"
expect_err_lines 2 "one message and a hint"

# --- plugins ------------------------------------------------------------
plugdir="$T/plugins"
mkdir -m 755 "$plugdir"
cp "$FIXTURE_PLUGIN_DIR/good_plugin.so" "$FIXTURE_PLUGIN_DIR/other_abi.so" "$plugdir/"
chmod 755 "$plugdir"/*.so
PAYRUN_PLUGIN_PATH="$plugdir" run "$PAYRUN" plugins list
expect_rc 0 "plugins list"
expect_out "good_plugin" "plugins list shows good_plugin"
expect_out "exporter" "plugins list shows kind"
expect_out "1.2.3" "plugins list shows version"
expect_no_out "other_abi " "plugins list hides a bad plugin"
expect_err "built for plugin ABI 999" "plugins list warns about a bad plugin"

PAYRUN_PLUGIN_PATH="$plugdir" run "$PAYRUN" plugins describe good_plugin
expect_rc 0 "plugins describe"
expect_out "rounding" "describe lists keys"
expect_out "(half_even|half_up)" "describe lists choices"
expect_out "default half_even" "describe shows defaults"
# an empty default is shown as "", not as nothing after "default"
PAYRUN_PLUGIN_PATH="${BUILD:?}/plugins" run "$PAYRUN" plugins describe bank_nacha
expect_rc 0 "describe bank_nacha"
expect_out 'destination_name       string optional default ""' "describe shows an empty default"

PAYRUN_PLUGIN_PATH="$plugdir" run "$PAYRUN" plugins describe missing_one
expect_rc 69 "describe missing plugin"
expect_err 'plugin "missing_one" not found' "missing plugin named"

# --- config check -------------------------------------------------------
cfgdir="$T/cfg"
mkdir "$cfgdir"
cat >"$cfgdir/payrun.yaml" <<YAML
version: 1
org: acme
currency: USD
database: acme.db
plugin_path: [$plugdir]
pipelines:
  close:
    - stage: export
      plugin: good_plugin
      with: { path: "out-{period}.csv", rounding: half_up }
YAML
run "$PAYRUN" config check --config "$cfgdir/payrun.yaml"
expect_rc 0 "config check good"
expect_out "ok: org acme, currency USD, 1 pipeline, 1 stage" "config check summary"

sed 's/rounding: half_up/roundng: half_up/' "$cfgdir/payrun.yaml" >"$cfgdir/badkey.yaml"
run "$PAYRUN" config check --config "$cfgdir/badkey.yaml"
expect_rc 78 "config check bad with key"
expect_err "badkey.yaml:10:" "bad with key names file and line"
expect_err '"roundng"' "bad with key names the key"
expect_err_lines 2 "error is one line plus a hint"

sed 's/plugin: good_plugin/plugin: other_abi/' "$cfgdir/payrun.yaml" >"$cfgdir/abi.yaml"
run "$PAYRUN" config check --config "$cfgdir/abi.yaml"
expect_rc 69 "config check other ABI"
expect_err "built for plugin ABI 999, this payrun speaks ABI 1" "ABI named"

sed 's/plugin: good_plugin/plugin: not_there/' "$cfgdir/payrun.yaml" >"$cfgdir/missing.yaml"
run "$PAYRUN" config check --config "$cfgdir/missing.yaml"
expect_rc 69 "config check unknown plugin"
expect_err 'missing.yaml:8:' "unknown plugin names the stage position"

chmod 775 "$plugdir/good_plugin.so"
run "$PAYRUN" config check --config "$cfgdir/payrun.yaml"
expect_rc 77 "group-writable plugin"
expect_err "writable by its group" "group-writable named"
chmod 755 "$plugdir/good_plugin.so"

run "$PAYRUN" config check --config "$FIX/config/bad-unknown-key.yaml"
expect_rc 78 "bad fixture"
expect_err "bad-unknown-key.yaml:" "bad fixture names file"
run "$PAYRUN" config check --config "$T/none.yaml"
expect_rc 66 "missing config file"
run "$PAYRUN" config check
expect_rc 64 "no config"
expect_err "PAYRUN_CONFIG" "no config hint"

# --- audit verify / list ------------------------------------------------
"$MAKE_TRAIL" "$cfgdir/acme.db" acme >/dev/null
"$MAKE_TRAIL" "$cfgdir/acme.db" beta >/dev/null
run "$PAYRUN" audit verify --config "$cfgdir/payrun.yaml"
expect_rc 0 "verify intact"
expect_out "ok, 6 events verified" "verify count"
run "$PAYRUN" audit list --config "$cfgdir/payrun.yaml" --action payout.paid
expect_rc 0 "audit list"
expect_out '"reference":"ACH-1"' "audit list shows metadata"
expect_no_out "payout.created" "audit list filters by action"

sqlite3 "$cfgdir/acme.db" "UPDATE audit_events SET metadata = replace(metadata, '1520000', '9520000') WHERE org = 'acme' AND seq = 4"
run "$PAYRUN" audit verify --config "$cfgdir/payrun.yaml"
expect_rc 65 "verify tampered"
expect_err "broken at sequence 4" "verify names the sequence"
expect_err "3 events verified before it" "verify counts good events"

finish
