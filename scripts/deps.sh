#!/usr/bin/env bash
# Install the Debian 12 packages payrun needs to build and test, skipping
# any that are already installed. Run as root (or with sudo available).
set -euo pipefail

packages=(
  build-essential cmake pkg-config     # compiler and build
  libyaml-dev libsqlite3-dev libcsv-dev check   # libraries, found by CMake
  sqlite3                              # the shell, used by tamper tests
  binutils                             # nm, to check plugin exports
  python3                              # JSON checks in integration tests
  ledger hledger beancount             # journal checkers used by tests
  libxml2-utils                        # xmllint, for bank file schemas
  valgrind                             # one test pass under memcheck
  strace                               # crash tests kill payrun at a chosen syscall
  clang libclang-rt-14-dev             # libFuzzer, for the short fuzz run
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

# Node.js runs the independent NACHA validator (achkit) in the tests; any
# installed node/npm will do, so look for the commands, not a package.
if ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi
[ ${#missing[@]} -eq 0 ] && { echo "deps: all present"; exit 0; }

echo "deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: done"
