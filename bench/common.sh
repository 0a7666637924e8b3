# bench/common.sh: what close.sh and interactive.sh share. Sourced from the
# top of the tree.

# demo_close_stages: the demo close's import and commission stages.
. scripts/demo-stages.sh

# The commit a benchmark measures, as its results file names it: the short
# hash, plus a warning when the sources of the build differ from it.
bench_commit() {
  local c
  c=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
  if [ "$c" != unknown ] &&
     [ -n "$(git status --porcelain -- core plugins include tools CMakeLists.txt 2>/dev/null)" ]; then
    c="$c with uncommitted changes to the build"
  fi
  echo "$c"
}

# write_config DIR PLUGINS: DIR/payrun.yaml, the whole close the benchmarks
# time (import, commissions with the demo's rules, approval rules, the CSV
# export, the hledger journal, the audit sink), with the plugins of the
# build in PLUGINS. Every path in it is relative to DIR: the database is
# DIR/run/bench.db, the outputs go under DIR/run/out/.
write_config() {
  cat >"$1/payrun.yaml" <<YAML
version: 1
org: bench
currency: USD
database: run/bench.db
plugin_path: [$2]
output_dir: run/out/{org}/{period}
allow_actor_override: true
actors: { alice: [preparer] }
pipelines:
  close:
$(demo_close_stages "attributions-{period}.csv" partners.csv)
    - stage: approvals
      plugin: approval_rules
      with:
        auto_approve_below: "1000.00"
        two_approvals_from: "10000.00"
        reject_inactive_partners: true
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
