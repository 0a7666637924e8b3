# common.sh: what kill.sh, ioerr.sh and race.sh share. Sourced, never run.
# docs/reliability.md describes the suites.
#
# kill.sh and ioerr.sh break a close of the demo samples, or a pay run of
# its approved payouts, in some way (a SIGKILL, an injected I/O error), run
# it again normally, and require the end state to equal that of a run that
# never broke (a pay run may add one run that paid nothing): the
# same rows in the money tables (times and run ids aside), the same files
# under out/ byte for byte, an audit trail that verifies, a database that
# passes integrity_check and foreign_key_check, and no temporary file left
# behind. race.sh runs commands at the same time and requires the end
# state of one serial order, with the same checks.
#
# Environment, as for tests/integration/*.sh:
#   PAYRUN       the payrun binary (required)
#   BUILD        the build directory; plugins are taken from $BUILD/plugins
#   SRC          the repository root (samples/, config/demo.yaml)
#   PAYRUN_GEN   optional: payrun-gen, for the larger generated scenario
#   PAYRUN_CHECK optional: the invariant checker; else $BUILD/tools/payrun-check
#                or $SRC/tools/payrun-check if either exists (skipped if none)
#   PAYRUN_CHECK_CMD optional: how to call it, a shell snippet that may use
#                $CHECK, $DB, $OUT and $CFG
#                (default: "$CHECK" --db "$DB" --org acme --out "$OUT")
#   KEEP_TMP     keep the work directory (and every failing case in it)
#
# Every case counts once, as passed or failed; the script prints its
# figures and ends with "N passed, M failed".
set -u
: "${PAYRUN:?PAYRUN must name the payrun binary}"
: "${BUILD:?BUILD must name the build directory}"
: "${SRC:?SRC must name the source tree}"
# Relative paths are made absolute: the workspaces' configs name the
# plugin directory, and payrun reads a config's paths from its directory.
abs_path() { case "$1" in /*|'') echo "$1" ;; */*|.|..) echo "$PWD/$1" ;; *) [ -e "$1" ] && echo "$PWD/$1" || echo "$1" ;; esac; }
PAYRUN=$(abs_path "$PAYRUN"); BUILD=$(abs_path "$BUILD"); SRC=$(abs_path "$SRC")
PAYRUN_GEN=$(abs_path "${PAYRUN_GEN:-}"); PAYRUN_CHECK=$(abs_path "${PAYRUN_CHECK:-}")

# Fixed clock: every time payrun stamps comes from it, so outputs of two
# closes are byte-identical and the database differs only where it must.
export PAYRUN_CLOCK=2026-02-01T09:00:00Z
unset PAYRUN_CONFIG
PERIOD=2026-01

MODE=quick
for a in "$@"; do
  case "$a" in
    --quick) MODE=quick ;;
    --full) MODE=full ;;
    -h|--help) sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "$(basename "$0"): unknown argument \"$a\" (use --quick or --full)" >&2; exit 64 ;;
  esac
done

R=$(mktemp -d "${TMPDIR:-/tmp}/payrun-rel-XXXXXX")
if [ -n "${KEEP_TMP:-}" ]; then
  echo "work directory kept: $R"
else
  trap 'rm -rf "$R"' EXIT
fi
mkdir -p "$R/failed"
passed=0
failed=0
T0=$SECONDS

# ---- tools ------------------------------------------------------------------

need_strace() {
  command -v strace >/dev/null 2>&1 && return 0
  echo "strace is missing; installing it (apt-get install -y strace)"
  if [ "$(id -u)" = 0 ]; then
    apt-get install -y strace >/dev/null 2>&1 ||
      { apt-get update >/dev/null 2>&1 && apt-get install -y strace >/dev/null 2>&1; }
  fi
  command -v strace >/dev/null 2>&1 || { echo "cannot run without strace" >&2; exit 2; }
}
for t in sqlite3 sha256sum timeout; do
  command -v "$t" >/dev/null 2>&1 || { echo "cannot run without $t" >&2; exit 2; }
done
need_strace

# strace, for a traced payrun. LeakSanitizer cannot run under ptrace and
# says so on stderr, so in a sanitizer build the traced runs go without
# leak detection (the reruns, not traced, keep it).
traced() { ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" strace "$@"; }

CHECK=${PAYRUN_CHECK:-}
if [ -z "$CHECK" ]; then
  for c in "$BUILD/tools/payrun-check" "$SRC/tools/payrun-check" \
           "$SRC/tools/payrun-check.sh" "$SRC/tools/payrun-check.py"; do
    if [ -f "$c" ] && [ -x "$c" ]; then CHECK=$c; break; fi
  done
fi

# ---- workspaces -------------------------------------------------------------
# A workspace is a directory holding config/demo.yaml (the demo config with
# plugin_path set to $BUILD/plugins), samples/, var/acme.db and out/, so
# the config's relative paths resolve inside it.

make_ws() { # DIR
  mkdir -p "$1/config" "$1/samples" "$1/var" "$1/tmp"
  cp -r "$SRC/samples/." "$1/samples/"
  sed "s|plugin_path: \[../build/plugins\]|plugin_path: [$BUILD/plugins]|" \
    "$SRC/config/demo.yaml" >"$1/config/demo.yaml"
}

# payrun_in DIR ARGS...: payrun with the workspace's config and a private
# TMPDIR (dry runs and restores write discarded files there).
payrun_in() {
  local d=$1; shift
  TMPDIR="$d/tmp" "$PAYRUN" "$@" --config "$d/config/demo.yaml"
}
close_args() { echo "run close --period $PERIOD --as alice"; }
# run_args: the run under test in scenario $CUR_SCN (set by whoever works
# on a scenario): the pay run in the pay scenario, the close in the others.
CUR_SCN=""
run_args() {
  case "$CUR_SCN" in
    pay) echo "run pay --period $PERIOD --as bob" ;;
    *) close_args ;;
  esac
}
run_pipeline() { case "$CUR_SCN" in pay) echo pay ;; *) echo close ;; esac; }

# The scenarios. Each is a setup, done once into a template that each case
# copies, followed by the close under test:
#   demo    no database yet: the first close of 2026-01 on the demo samples
#   recalc  2026-01 already closed on different inputs (DATAPIPE's first deal
#           26,300.00 instead of 36,300.00), outputs in place; the close
#           under test recalculates it with the demo samples
#   gen     (PAYRUN_GEN only) a generated period of 300 partners and 20,000
#           lines, same config otherwise: many more pages, so writes spill
#           and the WAL grows past its checkpoint size
#   pay     2026-01 closed on the demo samples and its two payouts with
#           bank details approved (TechStar by bob and carol, CloudBridge
#           by bob); the run under test is the pay run, which writes the
#           NACHA and pain.001 files and moves both payouts to processing
setup_scenario() { # NAME DIR
  local name=$1 d=$2
  make_ws "$d"
  case "$name" in
    demo) ;;
    recalc)
      cp "$d/samples/attributions-$PERIOD.csv" "$d/orig.csv"
      sed -i 's/,36300\.00,/,26300.00,/' "$d/samples/attributions-$PERIOD.csv"
      payrun_in "$d" $(close_args) >"$d/setup.out" 2>&1 || { cat "$d/setup.out"; return 1; }
      mv "$d/orig.csv" "$d/samples/attributions-$PERIOD.csv"
      ;;
    gen)
      "$PAYRUN_GEN" --partners 300 --lines 20000 --period "$PERIOD" --seed 11 --dir "$d/samples" \
        >/dev/null || return 1
      ;;
    pay)
      local ts cb
      { payrun_in "$d" $(close_args) &&
        ts=$(payrun_in "$d" payouts list --partner TECHSTAR --period "$PERIOD" --format csv | tail -n 1 | cut -d, -f1) &&
        cb=$(payrun_in "$d" payouts list --partner CLOUDBRIDGE --period "$PERIOD" --format csv | tail -n 1 | cut -d, -f1) &&
        payrun_in "$d" approve "$ts" "$cb" --as bob &&
        payrun_in "$d" approve "$ts" --as carol; } >"$d/setup.out" 2>&1 || { cat "$d/setup.out"; return 1; }
      ;;
    *) echo "no scenario $name" >&2; return 1 ;;
  esac
  rm -rf "$d/tmp"/*
}

# expected number of payouts of the period at the end of a scenario
scenario_payouts() { case "$1" in demo|recalc|pay) echo 3 ;; *) echo "" ;; esac; }

# ---- the canonical state ----------------------------------------------------
# canon DIR FILE: the end state of a workspace as text. The database is
# read through a backup (which includes whatever a WAL left behind holds),
# time columns and run ids are normalised away on the copy, and the money
# tables dumped with `.dump` (lines sorted: row order means nothing). The
# runs and the audit trail are listed too, normalised the same way, so a
# second run row or a duplicated event shows. Then every file under out/
# but temporary ones, with its SHA-256.
TIME_NORM="created_at approved_at processing_at paid_at failed_at"
nullable() { # COL VALUE -> "COL = CASE WHEN COL IS NULL THEN NULL ELSE 'VALUE' END"
  echo "$1 = CASE WHEN $1 IS NULL THEN NULL ELSE '$2' END"
}
canon() {
  local d=$1 f=$2 c="$R/canon.db" raw="$R/raw" sets="" col
  rm -rf "$c" "$c-wal" "$c-shm" "$raw"
  {
    if [ ! -f "$d/var/acme.db" ]; then
      echo "(no database)"
    # read a raw copy: opening the database itself could recover and
    # checkpoint a WAL that a broken run left, before payrun sees it
    elif ! { mkdir -p "$raw" && cp "$d/var/acme.db"* "$raw/" &&
             sqlite3 "$raw/acme.db" ".backup '$c'"; } 2>&1; then
      echo "(the database cannot be read)"
    else
      for col in $TIME_NORM; do sets="$sets${sets:+, }$(nullable "$col" "<time>")"; done
      sqlite3 "$c" "UPDATE payouts SET $sets, $(nullable run_id '<run>'), $(nullable hold_run_id '<run>');
                    UPDATE approvals SET $(nullable at '<time>');
                    UPDATE attribution_lines SET run_id = '<run>';" 2>&1
      echo "== tables"
      sqlite3 "$c" ".dump payouts commission_lines attribution_lines partners approvals" 2>&1 |
        grep -v '^\(BEGIN TRANSACTION\|COMMIT\|PRAGMA\)' | LC_ALL=C sort
      echo "== runs"
      sqlite3 "$c" "SELECT org, period, pipeline, actor, config_digest, input_digests, outcome, counts
                    FROM runs ORDER BY id" 2>&1
      echo "== audit trail"
      sqlite3 "$c" "SELECT seq, actor, action, entity_type,
                      CASE entity_type WHEN 'run' THEN '<run>' ELSE entity_id END, metadata
                    FROM audit_events ORDER BY org, seq;
                    SELECT org, seq FROM audit_heads ORDER BY org" 2>&1 |
        sed -E 's/"(run|run_id|hold_run_id)":[0-9]+/"\1":"<run>"/g'
      # outputs a committed run has not put in place yet (newer schemas)
      if [ -n "$(sqlite3 "$c" "SELECT name FROM sqlite_master WHERE name = 'pending_outputs'")" ]; then
        echo "== outputs waiting for their rename"
        sqlite3 "$c" "SELECT count(*) FROM pending_outputs" 2>&1
      fi
    fi
    echo "== files"
    if [ -d "$d/out" ]; then
      (cd "$d" && find out -type f ! -name '*.tmp-*' | LC_ALL=C sort | while read -r p; do
         sha256sum "$p"; done)
    fi
  } >"$f"
}

# query_raw DIR SQL: a query on a raw copy of the workspace's database
# files, so the query itself recovers nothing in the workspace.
query_raw() {
  local raw="$R/qraw"
  rm -rf "$raw"; mkdir -p "$raw"
  [ -f "$1/var/acme.db" ] || { echo "(no database)"; return; }
  cp "$1/var/acme.db"* "$raw/" && sqlite3 "$raw/acme.db" "$2" 2>&1
}

# ---- cases and figures ------------------------------------------------------
# A case collects problems (one line each, with a category before the
# first ": "); case_end counts it passed or failed and keeps the evidence.

declare -A FIG_POINTS=() FIG_FAIL=() CAT_COUNT=() CAT_EXAMPLES=() # empty but set, for set -u
CASE_LABEL=""
CASE_PROBLEMS=()
CASE_FIG=""
CASE_DIR=""

case_begin() { CASE_LABEL=$1; CASE_FIG=$2; CASE_DIR=$3; CASE_PROBLEMS=(); }
problem() { CASE_PROBLEMS+=("$1"); }
case_end() {
  FIG_POINTS[$CASE_FIG]=$(( ${FIG_POINTS[$CASE_FIG]:-0} + 1 ))
  if [ ${#CASE_PROBLEMS[@]} -eq 0 ]; then
    passed=$((passed + 1))
    return 0
  fi
  failed=$((failed + 1))
  FIG_FAIL[$CASE_FIG]=$(( ${FIG_FAIL[$CASE_FIG]:-0} + 1 ))
  local p cat
  for p in "${CASE_PROBLEMS[@]}"; do
    echo "FAIL $CASE_LABEL: $p"
    cat=${p%%:*}
    CAT_COUNT[$cat]=$(( ${CAT_COUNT[$cat]:-0} + 1 ))
    if [ "${CAT_COUNT[$cat]}" -le 12 ]; then
      CAT_EXAMPLES[$cat]="${CAT_EXAMPLES[$cat]:-}${CAT_EXAMPLES[$cat]:+, }$CASE_LABEL"
    fi
  done
  if [ -n "${KEEP_TMP:-}" ] && [ -d "$CASE_DIR" ]; then
    cp -a "$CASE_DIR" "$R/failed/$(echo "$CASE_LABEL" | tr ' /=:' '____')"
  fi
  return 1
}

# prepare_again SCN REFDIR: for the pay scenario, the state after the
# clean pay run and a second one, in $R/ref-SCN-again.txt. A pay run that
# was killed or failed after its commit leaves its payouts in processing,
# so the rerun pays nothing: it writes no bank file and moves no payout,
# but it is a run of its own, with its row and its run.completed event.
# Nothing else may differ from the reference.
prepare_again() {
  local scn=$1 ref=$2 again="$R/again2-$1"
  [ "$scn" = pay ] || return 0
  rm -rf "$again"; cp -a "$ref" "$again"
  payrun_in "$again" $(run_args) >"$again/again.out" 2>&1 ||
    { echo "scenario $scn: a second clean run failed:" >&2; cat "$again/again.out" >&2; exit 2; }
  canon "$again" "$R/ref-$scn-again.txt"
  rm -rf "$again"
}

# check_converged DIR SCENARIO REF: after the rerun, the workspace must
# equal the reference (or, in the pay scenario, the reference followed by
# one pay run that paid nothing: see prepare_again) and pass
# check_invariants. Adds a problem per difference.
check_converged() {
  local d=$1 scn=$2 ref=$3
  canon "$d" "$d/canon.txt"
  if [ -f "$R/ref-$scn-again.txt" ] && cmp -s "$R/ref-$scn-again.txt" "$d/canon.txt"; then
    RERUN_PAID_NOTHING=$((RERUN_PAID_NOTHING + 1))
  elif ! cmp -s "$ref" "$d/canon.txt"; then
    diff "$ref" "$d/canon.txt" >"$d/canon.diff"
    problem "state differs from the reference: $(grep -c '^[<>]' "$d/canon.diff") lines differ; first: $(grep -m1 '^[<>]' "$d/canon.diff" | cut -c1-220)"
  fi
  check_invariants "$d" "$scn"
}

# check_invariants DIR SCENARIO: what must hold of any end state: no
# temporary file under out/, integrity_check, foreign_key_check, the
# scenario's payout count for the period, `payrun audit verify`, and the
# invariant checker.
check_invariants() {
  local d=$1 scn=$2 stale n want rc msg
  stale=$(cd "$d" && find out -name '*.tmp-*' 2>/dev/null | LC_ALL=C sort | tr '\n' ' ')
  [ -z "$stale" ] || problem "stale temporary file under out/ at the end: $stale"
  if [ -f "$d/var/acme.db" ]; then
    msg=$(sqlite3 "$d/var/acme.db" "PRAGMA integrity_check" 2>&1)
    [ "$msg" = ok ] || problem "integrity_check: $msg"
    msg=$(sqlite3 "$d/var/acme.db" "PRAGMA foreign_key_check" 2>&1)
    [ -z "$msg" ] || problem "foreign_key_check: $(echo "$msg" | head -3 | tr '\n' ' ')"
    want=$(scenario_payouts "$scn")
    if [ -n "$want" ]; then
      n=$(sqlite3 "$d/var/acme.db" "SELECT count(*) FROM payouts WHERE period = '$PERIOD'" 2>&1)
      [ "$n" = "$want" ] || problem "payout count: $n payouts for $PERIOD, expected $want"
    fi
    msg=$(payrun_in "$d" audit verify 2>&1); rc=$?
    [ $rc -eq 0 ] || problem "audit verify: exit $rc: $(echo "$msg" | head -1)"
  fi
  if [ -n "$CHECK" ]; then
    local DB="$d/var/acme.db" OUT="$d/out" CFG="$d/config/demo.yaml"
    if [ -n "${PAYRUN_CHECK_CMD:-}" ]; then
      msg=$(eval "$PAYRUN_CHECK_CMD" 2>&1); rc=$?
    else
      msg=$("$CHECK" --db "$DB" --org acme --out "$OUT" 2>&1); rc=$?
    fi
    [ $rc -eq 0 ] || problem "payrun-check: exit $rc: $(echo "$msg" | grep -E 'FAILED|^  |rror' | head -3 | sed 's/^ *//' | tr '\n' ' ' | cut -c1-400)"
  fi
}

# A sanitizer report or a crash anywhere in a run's stderr.
check_no_crash() { # FILE WHAT
  if grep -qE 'Sanitizer|runtime error:|Segmentation fault|core dumped|stack smashing|double free|malloc\(\)' "$1"; then
    problem "crash: $2: $(grep -m1 -E 'Sanitizer|runtime error:|Segmentation|core dumped|stack smashing|double free|malloc\(\)' "$1" | cut -c1-200)"
  fi
}

RERUN_PAID_NOTHING=0

# rerun DIR: the run under test again, normally; it must succeed.
rerun() {
  local d=$1 rc
  payrun_in "$d" $(run_args) >"$d/rerun.out" 2>"$d/rerun.err"; rc=$?
  check_no_crash "$d/rerun.err" "the rerun"
  [ $rc -eq 0 ] || problem "rerun failed: exit $rc: $(head -2 "$d/rerun.err" | tr '\n' ' ' | cut -c1-300)"
}

# ---- syscall counts and sampling --------------------------------------------

# count_syscalls DIR LIST: the number of calls of each syscall in LIST
# (comma-separated) made by a clean run under test in (a copy of) DIR, as
# "name count" lines, 0 for those never made. Names the kernel does not
# have here (rename on some architectures) are left out.
count_syscalls() {
  local tpl=$1 list=$2 d="$R/count" s ok=""
  for s in ${list//,/ }; do
    strace -f -o /dev/null -e trace="$s" true 2>/dev/null && ok="$ok${ok:+,}$s"
  done
  rm -rf "$d"; cp -a "$tpl" "$d"
  TMPDIR="$d/tmp" traced -f -c -o "$d/strace.txt" -e trace="$ok" \
    "$PAYRUN" $(run_args) --config "$d/config/demo.yaml" >"$d/out.txt" 2>&1 ||
    { echo "the clean run failed under strace:" >&2; cat "$d/out.txt" >&2; return 1; }
  for s in ${ok//,/ }; do
    awk -v s="$s" '$NF == s && $4 ~ /^[0-9]+$/ { n = $4 } END { print s, n + 0 }' "$d/strace.txt"
  done
}

# counts_line FILE: "write 4, pwrite64 128, ..." from count_syscalls' lines
counts_line() { awk '{ printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2 }' "$1"; }

# points COUNT [CAP]: the occurrences to test. Without CAP: in full mode
# every one; in quick mode all of a count up to 12, else the first, every
# STEP-th (STEP at least 5, chosen for at most QUICK_CAP points) and the
# last. With CAP (a scenario too large for every point, in either mode):
# all up to CAP, else CAP points or so, evenly spread, and the last.
QUICK_CAP=${QUICK_CAP:-20}
points() {
  local n=$1 cap=${2:-} step
  [ "$n" -gt 0 ] || return 0
  if [ -z "$cap" ]; then
    if [ "$MODE" = full ] || [ "$n" -le 12 ]; then seq 1 "$n"; return; fi
    step=$(( (n + QUICK_CAP - 1) / QUICK_CAP )); [ "$step" -ge 5 ] || step=5
  else
    if [ "$n" -le "$cap" ]; then seq 1 "$n"; return; fi
    step=$(( (n + cap - 1) / cap ))
  fi
  { seq 1 "$step" "$n"; echo "$n"; } | sort -nu
}

# ---- the report -------------------------------------------------------------

print_figures() { # TITLE
  local k
  echo
  echo "== $1 ($MODE mode)"
  printf '%-34s %7s %9s\n' "points" "tested" "failed"
  while IFS= read -r k; do
    printf '%-34s %7d %9d\n' "$k" "${FIG_POINTS[$k]}" "${FIG_FAIL[$k]:-0}"
  done < <(printf '%s\n' "${!FIG_POINTS[@]}" | LC_ALL=C sort)
  if [ ${#CAT_COUNT[@]} -gt 0 ]; then
    echo
    echo "failures by kind (count: first cases)"
    while IFS= read -r k; do
      echo "  $k: ${CAT_COUNT[$k]}: ${CAT_EXAMPLES[$k]}"
    done < <(printf '%s\n' "${!CAT_COUNT[@]}" | LC_ALL=C sort)
  fi
  if [ -n "$CHECK" ]; then echo "invariant checker: $CHECK (run after every case)"
  else echo "invariant checker: not found (tools/payrun-check), skipped"; fi
  echo "runtime: $((SECONDS - T0)) s"
}

finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
