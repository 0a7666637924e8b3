#!/usr/bin/env bash
# The README's first command: install what is missing, build payrun, and
# run the demo against the sample pipeline file.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" -- --no-print-directory >/dev/null

payrun=build/core/payrun
config=config/demo.yaml

echo "== payrun --help"
"$payrun" --help
exit 0
echo "== payrun plugins list"
"$payrun" plugins list --config "$config"
echo
echo "== payrun config check"
"$payrun" config check --config "$config"
