# lib.sh: assertions for the integration tests. Each test script sources
# this, runs the real payrun binary, and checks exit codes and output.
# A failed assertion prints what was expected and what came, and exits 1.
set -u
: "${PAYRUN:?PAYRUN must name the payrun binary}"
: "${SRC:?SRC must name the source tree}"

T=$(mktemp -d "${TMPDIR:-/tmp}/payrun-it-XXXXXX")
[ -n "${KEEP_TMP:-}" ] || trap 'rm -rf "$T"' EXIT
passed=0
failed=0

# run CMD...: runs it, keeping exit code in $rc, stdout in $out, stderr in $err.
run() {
  set +e
  "$@" >"$T/stdout" 2>"$T/stderr"
  rc=$?
  set -e
  out=$(cat "$T/stdout")
  err=$(cat "$T/stderr")
}

ok()   { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL: $*" >&2; echo "  rc=$rc" >&2; echo "  stdout: $out" >&2; echo "  stderr: $err" >&2; }

expect_rc()      { if [ "$rc" -eq "$1" ]; then ok; else fail "$2: exit $rc, expected $1"; fi; }
expect_out()     { if grep -qF -- "$1" <<<"$out"; then ok; else fail "$2: stdout lacks '$1'"; fi; }
expect_err()     { if grep -qF -- "$1" <<<"$err"; then ok; else fail "$2: stderr lacks '$1'"; fi; }
expect_no_out()  { if grep -qF -- "$1" <<<"$out"; then fail "$2: stdout has '$1'"; else ok; fi; }
expect_err_lines() {
  local n; n=$(printf '%s\n' "$err" | grep -c . || true) # grep -c exits 1 on no line
  if [ "$n" -le "$1" ]; then ok; else fail "$2: stderr has $n lines, expected at most $1"; fi
}

# demo_close_stages [ATTRIBUTIONS [PARTNERS]]: the first two stages of the
# demo's close, as YAML items under a pipeline: attribution_csv reading
# ATTRIBUTIONS (default in/attributions-{period}.csv) and PARTNERS (default
# in/partners.csv), then commission_rules with the demo's rules and a
# 100.00 minimum. The tests that close the demo data build their pipelines
# from it, so the rules their figures depend on are written once.
demo_close_stages() {
  local lines='in/attributions-{period}.csv' partners=in/partners.csv
  [ $# -lt 1 ] || lines=$1
  [ $# -lt 2 ] || partners=$2
  cat <<YAML
    - stage: import
      plugin: attribution_csv
      with: { path: "$lines", partners: "$partners" }
    - stage: commissions
      plugin: commission_rules
      with:
        min_payout: "100.00"
        rules:
          - { name: gold-resellers, partner_type: reseller, partner_tier: gold, rate: "15" }
          - { name: big-deals, min_amount: "100000.00", rate: "12.5" }
YAML
}

finish() {
  echo "$(basename "$0"): $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
