# scripts/demo-stages.sh: sourced, not run. The demo close's first two
# stages as YAML, for the integration tests (tests/integration/lib.sh) and
# the benchmarks (bench/common.sh, bench/interactive.sh).

# demo_close_stages [ATTRIBUTIONS [PARTNERS]]: the first two stages of the
# demo's close, as YAML items under a pipeline: attribution_csv reading
# ATTRIBUTIONS (default in/attributions-{period}.csv) and PARTNERS (default
# in/partners.csv), then commission_rules with the demo's rules and a
# 100.00 minimum. The integration tests and the benchmarks build their
# close pipelines from it, so the rules their figures depend on are
# written once.
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
