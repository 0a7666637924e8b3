#!/usr/bin/env bash
# The README's first command: install what is missing, build payrun, and
# run the demo period close. It ends with the demo's five payouts:
# five payouts, 49,000.00 in all, in their statuses. The demo starts from
# an empty database (var/) and output directory (out/) each time.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" -- --no-print-directory >/dev/null

export PAYRUN_CONFIG=config/demo.yaml
payrun() { build/core/payrun "$@"; }
id_of() { # id_of PARTNER PERIOD
  payrun payouts list --partner "$1" --period "$2" --format csv | tail -n 1 | cut -d, -f1
}
step() { printf '\n$ payrun %s\n' "$*"; payrun "$@"; }

rm -rf var out
mkdir -p var

step plugins list
step config check
step run close --period 2026-01 --as alice
step run close --period 2026-02 --as alice

# January: TechStar needs two approvers, CloudBridge one; bob pays them
# (a NACHA file for TechStar's US account, a pain.001 file for
# CloudBridge's IBAN) and settles from the bank's answer. DataPipe is
# approved afterwards, for the next payment run.
step approve "$(id_of TECHSTAR 2026-01)" "$(id_of CLOUDBRIDGE 2026-01)" --as bob
step approve "$(id_of TECHSTAR 2026-01)" --as carol
step run pay --period 2026-01 --as bob
step run settle --period 2026-01 --as bob
step approve "$(id_of DATAPIPE 2026-01)" --as bob

step payouts list
step stats
step partners show NEXGEN
step audit verify
echo
echo "outputs: $(find out -type f | sort | tr '\n' ' ')"
