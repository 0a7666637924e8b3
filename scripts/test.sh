#!/usr/bin/env bash
# Build payrun and run every test twice: once plainly with warnings as
# errors and the hardening flags, once under AddressSanitizer +
# UndefinedBehaviorSanitizer; check that the Release build bench/ uses
# compiles without a warning; then the quick reliability suites (kill -9,
# I/O errors, races) against the plain build; then the unit and plugin
# suites and the demo once more under valgrind; then a short fuzz run of
# the decimal parser, the YAML loader, the CSV importer and the bank result
# file (tests/fuzz/run.sh, FUZZ_SECONDS a target, 15 by default), which
# fails on any crash, leak or property.
# This is the README's test command, and what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh

# achkit, the independent NACHA validator the bank-file tests run, from the
# npm registry into the build tree (once).
achkit_dir=build/tools/achkit
if [ ! -f "$achkit_dir/node_modules/achkit/package.json" ]; then
  npm install --prefix "$achkit_dir" --no-audit --no-fund --loglevel=error achkit@0.2.0 >/dev/null
fi
export ACHKIT_DIR="$PWD/$achkit_dir"

jobs=$(nproc 2>/dev/null || echo 2)
status=0

run_suite() {
  local name=$1 dir=$2; shift 2
  echo "== $name build ($dir)"
  cmake -S . -B "$dir" -DPAYRUN_WERROR=ON "$@" >/dev/null
  cmake --build "$dir" -j "$jobs" -- --no-print-directory >/dev/null
  echo "== $name tests"
  if ! (cd "$dir" && ctest --output-on-failure -j "$jobs"); then
    status=1
  fi
  # Check's own summary line for the unit suites.
  grep -h '^[0-9]*%: Checks:' "$dir/Testing/Temporary/LastTest.log" || true
}

run_suite plain build -DCMAKE_BUILD_TYPE=RelWithDebInfo
run_suite sanitizers build-asan -DCMAKE_BUILD_TYPE=Debug -DPAYRUN_SANITIZE=ON
# The Release build bench/ uses (-O3 inlines further, and _FORTIFY_SOURCE
# checks what it sees): it must compile without a warning too.
echo "== release build (build-release, as bench/ builds it)"
cmake -S . -B build-release -DPAYRUN_WERROR=ON -DCMAKE_BUILD_TYPE=Release -DPAYRUN_TESTS=OFF >/dev/null
if ! cmake --build build-release -j "$jobs" -- --no-print-directory >build/release-build.log 2>&1; then
  echo "the Release build failed:"; grep -E 'error|warning' build/release-build.log | head -20; status=1
fi

# The reliability suites of issue 7, quick versions, against the plain
# build (docs/reliability.md): kill -9 at each write, fsync and rename of a
# close; EIO and ENOSPC at each; commands raced against each other. Each
# prints its figures here; its full output is kept in build/.
echo "== reliability (quick)"
for suite in kill ioerr race; do
  log="build/reliability-$suite.log"
  t0=$SECONDS
  if PAYRUN="$PWD/build/core/payrun" BUILD="$PWD/build" SRC="$PWD" \
       bash "tests/reliability/$suite.sh" --quick >"$log" 2>&1; then
    result=passed
  else
    result=FAILED; status=1
    grep '^FAIL' "$log" | head -20 || true
    grep -q '^== ' "$log" || tail -20 "$log"   # it stopped before its figures
  fi
  sed -n '/^== /,/^runtime: /p' "$log"
  tail -n 1 "$log"
  echo "$suite.sh --quick: $result in $((SECONDS - t0)) s (output in $log)"
done

# One pass under valgrind (the plain build): the unit and plugin suites in
# one process each, so leaks show, and the demo through the real binary.
echo "== valgrind"
vg="valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99"
for suite in unit_tests plugin_tests; do
  if ! CK_FORK=no $vg "build/tests/$suite" >"build/valgrind-$suite.log" 2>&1; then
    echo "valgrind: $suite failed (see build/valgrind-$suite.log)"; status=1
  fi
  grep -h '^[0-9]*%: Checks:' "build/valgrind-$suite.log" || true
done
cat >build/valgrind-payrun <<WRAP
#!/bin/sh
exec $vg "$PWD/build/core/payrun" "\$@"
WRAP
chmod +x build/valgrind-payrun
if ! PAYRUN="$PWD/build/valgrind-payrun" SRC="$PWD" BUILD="$PWD/build" bash tests/integration/test_demo.sh; then
  echo "valgrind: the demo failed"; status=1
fi

# A short fuzz run: the hostile inputs too large to fuzz once each, then
# each target for FUZZ_SECONDS. The long run is tests/fuzz/run.sh 300.
echo "== fuzz (${FUZZ_SECONDS:=15} s a target)"
fuzz_start=$SECONDS
if ! bash tests/fuzz/run.sh "$FUZZ_SECONDS"; then
  echo "fuzz: FAILED (see above; a crash input is kept under build-fuzz/fuzz/*/artifacts/)"
  status=1
fi
echo "fuzz: $((SECONDS - fuzz_start)) s in all"

if [ "$status" -ne 0 ]; then
  echo "tests: FAILED"
  exit 1
fi
echo "tests: all passed, plain, under ASan+UBSan, under valgrind, and fuzzed"
