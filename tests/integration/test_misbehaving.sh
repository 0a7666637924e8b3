#!/usr/bin/env bash
# test_misbehaving.sh: misbehaving plugins (issue 7, suite 5). Real close
# and pay pipelines run with the fixture plugins of tests/fixtures/plugins
# (built as real .so files), each in a copy of one starting state: January
# closed and approved (3 payouts), a manual payout pending in January and
# one in February, and a second org in the same database.
#
#   fail_midway   approver: asks three approvals for a payout and holds it,
#                 approves another, through the host, after the import,
#                 the calculation and an exporter, then fails
#                 (PAYRUN_ERR_IO)                              exit 74
#   crash_midway  transition: moves the bank files' payouts to processing,
#                 then dies of SIGSEGV; in a pay run and in a close
#                                                killed by signal 11 (139)
#   illegal_move  transition: moves to processing, then tries a move the
#                 core refuses: pending -> paid, a payout of another
#                 period, another org's payout (refused to the plugin,
#                 which reports it)                            exit 65
#                 mark_paid through move_listed, decide(), a file of
#                 its own listing a payout (refused and reported by the
#                 core; the plugin returns OK)                 exit 70
#   liar          declared exporter, after a pay run's moves: acts as an
#                 importer (partner_put, line_add), a calculator, an
#                 approver or a transition, ignoring the refusal, and
#                 returns OK                                   exit 70
#                 returns 7, -99 or 1 (PAYRUN_SKIPPED) without a message
#                                                              exit 70
#   bad_rate      calculator answering 150% for every line: refused deep
#                 in the commission arithmetic, after the import  exit 70
#   bad_kind      declares kind 42: refused at load            exit 69
#
# Every case but the crashes must: exit with its code; name the stage and
# the plugin in the error (`stage "NAME" (KIND PLUGIN)`, or for a plugin
# refused at load the config line, stage and file) with the reason; leave
# the database's content byte for byte as it was (`sqlite3 .dump` of every
# table: payouts, approvals, audit trail and head, runs, partners, lines,
# outputs pending); leave every file under out/ as it was, with no new
# file, final or temporary; and leave an audit trail that verifies.
#
# A crash must commit nothing (the dump, read from a raw copy of the
# database files as the next payrun would, is unchanged) and put no file
# under its final name; then the same pipeline run normally must end in
# the state of a run that never crashed, byte for byte (database dump and
# every output file, the clock being fixed), with no temporary file left,
# and tools/payrun-check must pass.
set -e
. "$(dirname "$0")/lib.sh"
: "${BUILD:?BUILD must name the build tree}" "${FIXTURE_PLUGIN_DIR:?FIXTURE_PLUGIN_DIR must name the fixture plugins}"
# absolute: payrun runs from inside each workspace, and the config names
# the plugin directories
PAYRUN=$(realpath "$PAYRUN") BUILD=$(realpath "$BUILD") FIXTURE_PLUGIN_DIR=$(realpath "$FIXTURE_PLUGIN_DIR")
CHECK="$SRC/tools/payrun-check"
export PAYRUN_CLOCK=2026-02-02T10:00:00Z
# The crashes must die of the signal, with no core file: under ASan that
# means asking it not to catch SIGSEGV (it would report and exit 1).
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}handle_segv=0"
ulimit -c 0

ACH='{ company_name: ACME CORP, company_id: "1234567890", odfi: "021000021", destination: "021000021", origin: "1234567890" }'
SEPA='{ debtor_name: Acme Corp, debtor_iban: DE89370400440532013000, debtor_bic: COBADEFFXXX }'
config() { # config ORG: the pipeline file, plus the lines of $EXTRA
  cat <<YAML
version: 1
org: $1
currency: USD
database: acme.db
plugin_path: [$BUILD/plugins, $FIXTURE_PLUGIN_DIR]
output_dir: out/{org}/{period}
allow_actor_override: true
actors:
  alice: [preparer]
  bob: [approver, payer]
  carol: [approver]
pipelines:
  close:
    - { stage: import, plugin: attribution_csv, with: { path: "in/attributions-{period}.csv", partners: in/partners.csv } }
    - { stage: commissions, plugin: commission_rules, with: { min_payout: "100.00" } }
    - { stage: approvals, plugin: approval_rules, with: { two_approvals_from: "10000.00" } }
    - { stage: export, plugin: export_csv, with: { path: payouts.csv } }
    - { stage: journal, plugin: export_ledger, with: { format: hledger, path: accrual.journal } }
    - { stage: audit, plugin: audit_jsonl, with: { path: ../audit.jsonl } }
  pay:
    - { stage: ach, plugin: bank_nacha, with: $ACH }
    - { stage: sepa, plugin: bank_pain001, with: $SEPA }
    - { stage: processing, plugin: status_transitions, with: { mode: mark_processing } }
$EXTRA
YAML
}
EXTRA=""
close_with() { # close_with NAME STAGE...: the close with its stages and these
  printf '  %s:\n' "$1"; shift
  printf '    - %s\n' \
    '{ stage: import, plugin: attribution_csv, with: { path: "in/attributions-{period}.csv", partners: in/partners.csv } }' \
    '{ stage: commissions, plugin: commission_rules, with: { min_payout: "100.00" } }' "$@"
}
pay_with() { # pay_with NAME STAGE...: the bank files and these stages
  printf '  %s:\n' "$1"; shift
  printf '    - %s\n' "{ stage: ach, plugin: bank_nacha, with: $ACH }" \
    "{ stage: sepa, plugin: bank_pain001, with: $SEPA }" "$@"
}
PROCESSING='{ stage: processing, plugin: status_transitions, with: { mode: mark_processing } }'

# ---- the starting state -------------------------------------------------------
TPL="$T/template"
mkdir -p "$TPL/in"
cp "$SRC"/samples/*.csv "$TPL/in/"
config acme >"$TPL/payrun.yaml"
config beta >"$TPL/beta.yaml"
in_ws() { # in_ws DIR ARGS...: payrun in workspace DIR with its config
  local d=$1; shift
  (cd "$d" && TMPDIR="$d" "$PAYRUN" "$@" --config "$d/payrun.yaml")
}
setup() { # fails the whole script: nothing is worth testing without it
  run in_ws "$TPL" "$@"
  [ "$rc" = 0 ] || { fail "setup: payrun $*"; finish; exit 1; }
}
setup run close --period 2026-01 --as alice
setup approve --all-pending --as bob
setup payouts create --partner NEXGEN --amount 250.00 --period 2026-01 --notes "bonus" --as alice
PENDING=$(sqlite3 "$TPL/acme.db" "SELECT id FROM payouts WHERE kind = 'manual' AND period = '2026-01'")
setup payouts create --partner GROWTHLABS --amount 300.00 --period 2026-02 --as alice
FEBRUARY=$(sqlite3 "$TPL/acme.db" "SELECT id FROM payouts WHERE period = '2026-02'")
(cd "$TPL" && "$PAYRUN" run close --period 2026-01 --as alice --config beta.yaml >/dev/null)
BETA=$(sqlite3 "$TPL/acme.db" "SELECT id FROM payouts WHERE org = 'beta' AND partner_id = 'TECHSTAR'")
[ "$(sqlite3 "$TPL/acme.db" "SELECT group_concat(status) FROM payouts WHERE org = 'acme' AND kind = 'commission'")" = approved,approved,approved ] &&
  [ -n "$PENDING" ] && [ -n "$FEBRUARY" ] && [ -n "$BETA" ] && ok ||
  { fail "starting state: 3 approved payouts, two manual ones, one of org beta"; finish; exit 1; }

# ---- the pipelines under test -------------------------------------------------------
EXTRA=$(
  close_with close_fail '{ stage: export, plugin: export_csv, with: { path: payouts.csv } }' \
    '{ stage: approvals, plugin: fail_midway }' \
    '{ stage: journal, plugin: export_ledger, with: { format: hledger, path: accrual.journal } }'
  close_with close_crash '{ stage: approvals, plugin: approval_rules, with: { two_approvals_from: "10000.00" } }' \
    '{ stage: export, plugin: export_csv, with: { path: payouts.csv } }' \
    '{ stage: journal, plugin: export_ledger, with: { format: hledger, path: accrual.journal } }' \
    '{ stage: crash, plugin: crash_midway }'
  pay_with pay_crash '{ stage: crash, plugin: crash_midway }'
  printf '  close_bad_rate:\n    - %s\n    - %s\n' \
    '{ stage: import, plugin: attribution_csv, with: { path: "in/attributions-{period}.csv", partners: in/partners.csv } }' \
    '{ stage: commissions, plugin: bad_rate }'
  for t in pending_to_paid:$PENDING other_period:$FEBRUARY other_org:$BETA listed_to_paid: \
           decide:$PENDING list:$PENDING; do
    pay_with "pay_illegal_${t%%:*}" "{ stage: processing, plugin: illegal_move, with: { try: ${t%%:*}, payout: \"${t#*:}\" } }"
  done
  for a in partner line calculate decide move; do
    pay_with "pay_liar_$a" "$PROCESSING" "{ stage: lie, plugin: liar, with: { act: $a, payout: \"$PENDING\" } }"
  done
  for s in 7:7 minus99:-99 skipped:1; do
    pay_with "pay_liar_status_${s%%:*}" "$PROCESSING" "{ stage: lie, plugin: liar, with: { status: ${s#*:} } }"
  done
  pay_with pay_bad_kind '{ stage: odd, plugin: bad_kind }' "$PROCESSING"
)
config acme >"$TPL/payrun.yaml"
# config check loads every plugin: all load but bad_kind
run in_ws "$TPL" config check
expect_rc 69 "config check refuses the pipeline file for bad_kind alone"
expect_err 'stage "odd": refusing plugin' "config check names bad_kind's stage"

# ---- snapshots ---------------------------------------------------------------------
# dump DIR: the database's whole content, read from a raw copy of its files
# (with any WAL a dead process left, recovered in the copy as the next
# payrun would), so reading it changes nothing in the workspace.
dump() {
  local raw
  raw=$(mktemp -d "$T/raw-XXXXXX")
  cp "$1"/acme.db* "$raw/"
  sqlite3 "$raw/acme.db" .dump
  rm -rf "$raw"
}
# files DIR: every file under out/ with its SHA-256, temporary ones too.
files() { (cd "$1" && find out -type f | LC_ALL=C sort | xargs -r sha256sum); }
tmp_files() { (cd "$1" && find out -type f -name '*.tmp-*' | LC_ALL=C sort); }
new_ws() { rm -rf "$1"; cp -a "$TPL" "$1"; }

same_state() { # same_state CASE DIR: database and files as in the template
  if [ "$(dump "$2")" = "$(dump "$TPL")" ]; then ok; else
    fail "$1: the database changed"; diff <(dump "$TPL") <(dump "$2") | head -20 >&2 || true; fi
  if [ "$(files "$2")" = "$(files "$TPL")" ]; then ok; else
    fail "$1: files under out/ changed"; diff <(files "$TPL") <(files "$2") >&2 || true; fi
  run in_ws "$2" audit verify
  expect_rc 0 "$1: the audit trail verifies"
}

# case_fails NAME PIPELINE PERIOD ACTOR RC TEXT...: the run exits RC with
# every TEXT in its error, and changes nothing.
case_fails() {
  local name=$1 pipeline=$2 period=$3 actor=$4 want=$5 w="$T/case"
  shift 5
  new_ws "$w"
  run in_ws "$w" run "$pipeline" --period "$period" --as "$actor"
  expect_rc "$want" "$name: exit code"
  for text in "$@"; do expect_err "$text" "$name: the error says"; done
  expect_err_lines 2 "$name: one error line and a hint"
  same_state "$name" "$w"
}

# ---- 1. an error midway, after changes through the host ---------------------------
case_fails "fail_midway" close_fail 2026-02 alice 74 \
  'payrun: stage "approvals" (approver fail_midway): lost the approvals service after 3 decisions (held po_7b400ce4b29fbfe7, approved po_79dc25e5e420be28)'
# the same stage, run in the same pipeline with its failure removed, does
# change the database: the rollback is what the case above saw
w="$T/case"; new_ws "$w"
sed -i 's/{ stage: approvals, plugin: fail_midway }/{ stage: approvals, plugin: approval_rules }/' "$w/payrun.yaml"
run in_ws "$w" run close_fail --period 2026-02 --as alice
expect_rc 0 "close_fail without the failure commits"
[ "$(dump "$w")" != "$(dump "$TPL")" ] && [ -f "$w/out/acme/2026-02/payouts.csv" ] && ok ||
  fail "close_fail without the failure changes the database and writes payouts.csv"

# ---- 2. illegal moves ---------------------------------------------------------------
case_fails "pending -> paid" pay_illegal_pending_to_paid 2026-01 bob 65 \
  'payrun: stage "processing" (transition illegal_move): pending_to_paid: the core refused mark_paid' \
  "payout \"$PENDING\" is pending_approval: cannot mark_paid it"
case_fails "another period" pay_illegal_other_period 2026-01 bob 65 \
  'payrun: stage "processing" (transition illegal_move): other_period' \
  "payout \"$FEBRUARY\" belongs to period 2026-02, not 2026-01"
case_fails "another org" pay_illegal_other_org 2026-01 bob 65 \
  'payrun: stage "processing" (transition illegal_move): other_org' \
  "payout \"$BETA\" not found in org \"acme\""
case_fails "listed -> paid" pay_illegal_listed_to_paid 2026-01 bob 70 \
  'payrun: stage "processing" (transition illegal_move): move_listed() only marks payouts processing'
case_fails "decide from a transition" pay_illegal_decide 2026-01 bob 70 \
  'payrun: stage "processing" (transition illegal_move): only approver plugins may decide about payouts'
case_fails "a transition lists a payout in a file of its own" pay_illegal_list 2026-01 bob 70 \
  'payrun: stage "processing" (transition illegal_move): only exporter plugins may list payouts in a payment file'

# ---- 3. a plugin that lies about its kind or its status -----------------------------
case_fails "exporter as importer (partner)" pay_liar_partner 2026-01 bob 70 \
  'payrun: stage "lie" (exporter liar): only importer plugins may add partners'
case_fails "exporter as importer (line)" pay_liar_line 2026-01 bob 70 \
  'payrun: stage "lie" (exporter liar): only importer plugins may add attribution lines'
case_fails "exporter as calculator" pay_liar_calculate 2026-01 bob 70 \
  'payrun: stage "lie" (exporter liar): only calculator plugins may calculate'
case_fails "exporter as approver" pay_liar_decide 2026-01 bob 70 \
  'payrun: stage "lie" (exporter liar): only approver plugins may decide about payouts'
case_fails "exporter as transition" pay_liar_move 2026-01 bob 70 \
  'payrun: stage "lie" (exporter liar): only transition plugins may move payouts'
case_fails "status 7" pay_liar_status_7 2026-01 bob 70 \
  'payrun: stage "lie" (exporter liar) failed (status 7) without saying why'
case_fails "status -99" pay_liar_status_minus99 2026-01 bob 70 \
  'payrun: stage "lie" (exporter liar) failed (status -99) without saying why'
case_fails "status 1 (PAYRUN_SKIPPED)" pay_liar_status_skipped 2026-01 bob 70 \
  'payrun: stage "lie" (exporter liar) failed (status 1) without saying why'
case_fails "rate of 150%" close_bad_rate 2026-02 alice 70 \
  'payrun: stage "commissions" (calculator bad_rate): rate 150000000 for deal "D-1002" is outside 0..100%'
case_fails "kind 42" pay_bad_kind 2026-01 bob 69 \
  'stage "odd": refusing plugin' 'bad_kind.so' 'valid kind'

# ---- 4. SIGSEGV midway ------------------------------------------------------------------
# crash_case NAME PIPELINE NORMAL PERIOD ACTOR NORMAL_ACTOR
crash_case() {
  local name=$1 pipeline=$2 normal=$3 period=$4 actor=$5 normal_actor=$6
  local w="$T/crash" ref="$T/reference"
  new_ws "$w"
  new_ws "$ref"
  run in_ws "$ref" run "$normal" --period "$period" --as "$normal_actor"
  expect_rc 0 "$name: the reference run"

  run in_ws "$w" run "$pipeline" --period "$period" --as "$actor"
  expect_rc 139 "$name: killed by SIGSEGV (128 + 11)"
  expect_err 'payrun: warning: stage "crash" (transition crash_midway): moved' \
    "$name: the plugin's own line before the crash"
  expect_err 'payrun: stage "crash" (transition crash_midway) crashed: SIGSEGV; nothing of this run was committed' \
    "$name: payrun names the stage and the plugin that crashed"
  [ "$(dump "$w")" = "$(dump "$TPL")" ] && ok || fail "$name: the crashed run committed something"
  [ "$(files "$w" | grep -v '\.tmp-')" = "$(files "$TPL" | grep -v '\.tmp-')" ] && ok ||
    fail "$name: a file appeared under its final name"
  echo "$name: the crash left $(tmp_files "$w" | wc -l) temporary file(s)"

  run in_ws "$w" run "$normal" --period "$period" --as "$normal_actor"
  expect_rc 0 "$name: the next normal run"
  expect_err "stopped before its run committed" "$name: it says it removed what the crash left"
  if [ "$(dump "$w")" = "$(dump "$ref")" ]; then ok; else
    fail "$name: the database differs from a run that never crashed"
    diff <(dump "$ref") <(dump "$w") | head -20 >&2 || true; fi
  if [ "$(files "$w")" = "$(files "$ref")" ]; then ok; else
    fail "$name: the files differ from a run that never crashed"
    diff <(files "$ref") <(files "$w") >&2 || true; fi
  [ -z "$(tmp_files "$w")" ] && ok || fail "$name: temporary files left: $(tmp_files "$w")"
  run "$CHECK" --db "$w/acme.db" --org acme --out "$w/out"
  expect_rc 0 "$name: payrun-check passes"
  run in_ws "$w" audit verify
  expect_rc 0 "$name: the audit trail verifies"
}
crash_case "SIGSEGV in a pay run" pay_crash pay 2026-01 bob bob
crash_case "SIGSEGV in a close" close_crash close 2026-02 bob alice

# What a run removes is only a dead process's temporary file of the very
# output it writes: a live process's is left (another payrun may be
# writing it), and so is a dead one's of any other name.
w="$T/live"; new_ws "$w"
mkdir -p "$w/out/acme/2026-01"
sleep 60 & live=$!
true & dead=$!; wait "$dead"
echo live >"$w/out/acme/2026-01/ach-2026-01-3.txt.tmp-$live"
echo dead >"$w/out/acme/2026-01/notes.txt.tmp-$dead"
run in_ws "$w" run pay --period 2026-01 --as bob
expect_rc 0 "pay beside other processes' temporary files"
# run 3: runs 1 and 2 are the closes of acme and beta
[ -f "$w/out/acme/2026-01/ach-2026-01-3.txt" ] && ok || fail "the pay run wrote ach-2026-01-3.txt"
[ -f "$w/out/acme/2026-01/ach-2026-01-3.txt.tmp-$live" ] && ok ||
  fail "a live process's temporary file of the same output was removed"
[ -f "$w/out/acme/2026-01/notes.txt.tmp-$dead" ] && ok ||
  fail "a dead process's temporary file of another name was removed"
expect_no_out "removed" "nothing said removed on stdout"
if grep -qF "removed" <<<"$err"; then fail "the pay run says it removed something"; else ok; fi
kill "$live" 2>/dev/null || true
wait "$live" 2>/dev/null || true

finish
