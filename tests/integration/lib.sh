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

# demo_close_stages: the demo close's import and commission stages, shared
# with bench/ (scripts/demo-stages.sh).
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/demo-stages.sh"

finish() {
  echo "$(basename "$0"): $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
