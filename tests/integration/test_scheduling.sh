#!/usr/bin/env bash
# test_scheduling.sh: the scheduling samples of docs/operations.md.
#
#  - samples/systemd/*.service and *.timer pass `systemd-analyze verify`
#    (with ExecStart's program path pointed at a copy of the sample
#    script, since /usr/local/bin is not ours to write), and their
#    OnCalendar expressions mean what the comments say;
#  - samples/cron/payrun is a valid /etc/cron.d file, field by field (no
#    cron daemon is needed to check the syntax);
#  - samples/bin/payrun-close closes the month before the current one,
#    December in January, and passes payrun's exit code through: 0 for
#    a close and for an identical rerun, 66 for an input file not there
#    yet, 64 for bad usage;
#  - samples/bin/payrun-backup copies a database while a close is writing
#    to it; the copy passes integrity_check and `payrun audit verify`, and
#    the restore the docs describe gives a database payrun accepts.
set -e
. "$(dirname "$0")/lib.sh"
: "${BUILD:?}" "${PAYRUN_GEN:?}"

S="$SRC/samples"

# --- systemd units --------------------------------------------------------
if command -v systemd-analyze >/dev/null 2>&1; then
  mkdir -p "$T/units" "$T/bin"
  for f in "$S"/bin/*; do cp "$f" "$T/bin/"; done
  for u in "$S"/systemd/*.service "$S"/systemd/*.timer; do
    sed "s|/usr/local/bin/|$T/bin/|g" "$u" >"$T/units/$(basename "$u")"
  done
  grep -q '^ExecStart=/usr/local/bin/payrun-close$' "$S/systemd/payrun-close.service" && ok ||
    fail "payrun-close.service runs /usr/local/bin/payrun-close"
  run systemd-analyze verify --man=no "$T"/units/*.service "$T"/units/*.timer
  expect_rc 0 "systemd-analyze verify of the sample units"
  [ -z "$out$err" ] && ok || fail "systemd-analyze verify says nothing about the sample units"
  # a unit with a mistake is caught, so the check above means something
  sed -i 's/^OnCalendar=.*/OnCalendar=*-*-01..35 06:00:00/' "$T/units/payrun-close.timer"
  run systemd-analyze verify --man=no "$T/units/payrun-close.service" "$T/units/payrun-close.timer"
  [ "$rc" -ne 0 ] && ok || fail "systemd-analyze verify catches a bad OnCalendar"
  # the close timer fires at 06:00 on days 1 to 5 only
  cal=$(sed -n 's/^OnCalendar=//p' "$S/systemd/payrun-close.timer")
  run systemd-analyze calendar --iterations=6 "$cal"
  expect_rc 0 "the close timer's OnCalendar parses"
  days=$(grep -oE '(Next elapse|Iter\. #[0-9]+): [A-Z][a-z]{2} [0-9]{4}-[0-9]{2}-[0-9]{2} 06:00:00' <<<"$out" |
         sed -E 's/.*-([0-9]{2}) 06:00:00/\1/' | sort -u | tr '\n' ' ')
  case "$days" in
    "01 02 03 04 05 ") ok ;;
    *) fail "the close timer fires on days 1 to 5 at 06:00, got: $days" ;;
  esac
else
  echo "test_scheduling: systemd-analyze not found (Debian package systemd): the unit check is SKIPPED"
fi

# --- the cron file ----------------------------------------------------------
# An /etc/cron.d line: five time fields, a user, a command; or NAME=value.
cron_check() {
  awk '
    function field(f, lo, hi, names,   n, parts, i, r, a, b, step) {
      n = split(f, parts, ",")
      for (i = 1; i <= n; i++) {
        r = parts[i]; step = ""
        if (r ~ /\//) { step = r; sub(/.*\//, "", step); sub(/\/.*/, "", r)
                        if (step !~ /^[0-9]+$/ || step + 0 < 1) return 0 }
        if (r == "*") continue
        if (names != "" && index(names, " " tolower(r) " ")) continue
        if (r ~ /^[0-9]+-[0-9]+$/) { a = r; sub(/-.*/, "", a); b = r; sub(/.*-/, "", b)
                                     if (a + 0 < lo || b + 0 > hi || a + 0 > b + 0) return 0; continue }
        if (r ~ /^[0-9]+$/ && r + 0 >= lo && r + 0 <= hi) continue
        return 0
      }
      return 1
    }
    /^[ \t]*(#|$)/ { next }
    /^[A-Za-z_][A-Za-z0-9_]*=/ { next }
    {
      if (NF < 7) { print NR ": fewer than 7 fields: " $0; bad = 1; next }
      if (!field($1, 0, 59, "") || !field($2, 0, 23, "") || !field($3, 1, 31, "") ||
          !field($4, 1, 12, " jan feb mar apr may jun jul aug sep oct nov dec ") ||
          !field($5, 0, 7, " sun mon tue wed thu fri sat ")) { print NR ": bad time field: " $0; bad = 1 }
      if ($6 !~ /^[a-z_][a-z0-9_-]*$/) { print NR ": bad user \"" $6 "\""; bad = 1 }
      cmd = $0; for (i = 1; i <= 6; i++) sub(/^[ \t]*[^ \t]+/, "", cmd)
      if (cmd ~ /[^\\]%/) { print NR ": unescaped % in the command: " cmd; bad = 1 }
      jobs++
    }
    END { if (!jobs) { print "no job lines"; bad = 1 }; exit bad }
  ' "$1"
}
run cron_check "$S/cron/payrun"
expect_rc 0 "samples/cron/payrun is a valid cron.d file"
printf '0 6 1-35 * * payrun payrun-close\n' >"$T/badcron"
run cron_check "$T/badcron"
[ "$rc" -ne 0 ] && ok || fail "the cron check catches day 35"
printf '0 6 1 * * payrun date +%%Y\n' >"$T/badcron"
run cron_check "$T/badcron"
[ "$rc" -ne 0 ] && ok || fail "the cron check catches a bare %"
# its jobs run the same scripts as the systemd units
grep -qE '^0 +6 +1-5 .* payrun +payrun-close ' "$S/cron/payrun" && ok || fail "cron closes at 06:00 on days 1-5"
grep -qE ' payrun +payrun-backup /var/lib/payrun/acme.db /var/backups/payrun ' "$S/cron/payrun" && ok ||
  fail "cron backs up as the backup unit does"
grep -q '^ExecStart=/usr/local/bin/payrun-backup /var/lib/payrun/acme.db /var/backups/payrun$' \
  "$S/systemd/payrun-backup.service" && ok || fail "the backup unit runs payrun-backup"

# --- payrun-close -------------------------------------------------------------
W="$T/close"
mkdir -p "$W/in" "$W/bin"
"$PAYRUN_GEN" --partners 50 --lines 2000 --period 2025-12 --seed 3 --dir "$W/in" >/dev/null
ln -s "$PAYRUN" "$W/bin/payrun"
cat >"$W/payrun.yaml" <<YAML
version: 1
org: acme
currency: USD
database: acme.db
plugin_path: [$BUILD/plugins]
actors: { $(id -un): [preparer] }
pipelines:
  close:
    - stage: import
      plugin: attribution_csv
      with: { path: "in/attributions-{period}.csv", partners: in/partners.csv }
    - stage: commissions
      plugin: commission_rules
    - stage: export
      plugin: export_csv
YAML
# `date` as it answers in January 2026 and in March 2026
mkdir -p "$W/jan" "$W/mar"
printf '#!/bin/sh\ncase "$1" in +%%Y) echo 2026 ;; +%%m) echo 01 ;; *) exit 1 ;; esac\n' >"$W/jan/date"
printf '#!/bin/sh\ncase "$1" in +%%Y) echo 2026 ;; +%%m) echo 03 ;; *) exit 1 ;; esac\n' >"$W/mar/date"
chmod +x "$W/jan/date" "$W/mar/date"
export PAYRUN_CONFIG="$W/payrun.yaml" PAYRUN_CLOCK=2026-01-02T06:00:00Z
PATH="$W/jan:$W/bin:$PATH" run sh "$S/bin/payrun-close"
expect_rc 0 "payrun-close in January closes December"
expect_out "close committed for acme, period 2025-12" "the previous month, across the year"
PATH="$W/jan:$W/bin:$PATH" run sh "$S/bin/payrun-close"
expect_rc 0 "payrun-close again: an identical rerun"
expect_out "nothing to do" "the rerun changes nothing"
PATH="$W/mar:$W/bin:$PATH" run sh "$S/bin/payrun-close"
expect_rc 66 "payrun-close before the period's file arrives exits 66"
expect_err "attributions-2026-02.csv" "and names the missing file"
PATH="$W/bin:$PATH" run sh "$S/bin/payrun-close" 2025-12
expect_rc 0 "payrun-close PERIOD"
PATH="$W/bin:$PATH" run sh "$S/bin/payrun-close" 2025-12 2026-01
expect_rc 64 "payrun-close with two periods is a usage error"

# --- payrun-backup while a close writes -----------------------------------------
"$PAYRUN_GEN" --partners 1000 --lines 50000 --period 2026-01 --seed 5 --dir "$W/in" >/dev/null
mkdir -p "$W/backups"
PATH="$W/bin:$PATH" PAYRUN_CLOCK=2026-02-02T06:00:00Z sh "$S/bin/payrun-close" 2026-01 \
  >"$T/close.out" 2>&1 &
close_pid=$!
# back up while the close holds its write transaction (or right after it)
for _ in $(seq 1 50); do
  [ -f "$W/acme.db-wal" ] && break
  sleep 0.1
done
run sh "$S/bin/payrun-backup" "$W/acme.db" "$W/backups"
expect_rc 0 "payrun-backup while a close runs"
backup=$out
wait "$close_pid" && ok || { fail "the close beside the backup: $(cat "$T/close.out")"; }
[ -f "$backup" ] && [ ! -e "$backup.tmp" ] && ok || fail "the backup is $backup, with no temporary file left"
[ "$(sqlite3 "$backup" 'PRAGMA integrity_check')" = ok ] && ok || fail "the backup passes integrity_check"
sed "s|^database: .*|database: $backup|" "$W/payrun.yaml" >"$W/backup.yaml"
run "$PAYRUN" audit verify --config "$W/backup.yaml"
expect_rc 0 "the backup's audit trail verifies"
# it holds December's close, and January's whole or not at all
runs=$(sqlite3 "$backup" "SELECT group_concat(period, ' ') FROM (SELECT period FROM runs ORDER BY id)")
case "$runs" in
  "2025-12"|"2025-12 2026-01") ok ;;
  *) fail "the backup holds whole runs only, got: $runs" ;;
esac
run sh "$S/bin/payrun-backup" "$W/nosuch.db" "$W/backups"
expect_rc 66 "payrun-backup of a missing database"

# restore, as docs/operations.md says: the database and its -wal and -shm
# files moved aside, the backup copied in, the trail verified
mv "$W/acme.db" "$W/acme.db.old"
rm -f "$W/acme.db-wal" "$W/acme.db-shm"
cp "$backup" "$W/acme.db"
run "$PAYRUN" audit verify
expect_rc 0 "the restored database verifies"
PATH="$W/bin:$PATH" PAYRUN_CLOCK=2026-02-03T06:00:00Z run sh "$S/bin/payrun-close" 2026-01
expect_rc 0 "a close after the restore: January closed, or nothing to do"

finish
