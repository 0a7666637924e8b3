-- alternative.sql: the close as a finance team would write it by hand in
-- the sqlite3 shell, timed by bench/close.sh next to `payrun run close`.
-- It imports the same two CSV files, prices every won line with the demo's
-- rules in one aggregate query, and exports the per-partner totals:
--
--   cd DIR_WITH_THE_CSVS && sqlite3 alternative.db ".read bench/alternative.sql"
--
-- Rules (config/demo.yaml, first match wins): a gold reseller earns 15%;
-- else a line of 100,000.00 or more earns 12.5%; else the partner's own
-- commission_rate. Totals under the min_payout of 100.00 are left out.
-- Floating point (REAL) arithmetic, rounded once per partner to cents:
-- what a spreadsheet would do, not payrun's exact arithmetic, so a total
-- can differ from payrun's by a cent, and nothing is carried forward,
-- approved, journalled or audited.

.bail on
.import --csv partners.csv partners
.import --csv attributions-2026-02.csv attributions

.headers on
.mode csv
.once payouts-sqlite.csv
SELECT p.partner_id,
       p.name,
       round(sum(CAST(a.attributed_amount AS REAL) *
                 CASE
                   WHEN p.type = 'reseller' AND p.tier = 'gold' THEN 15.0
                   WHEN CAST(a.attributed_amount AS REAL) >= 100000.00 THEN 12.5
                   ELSE CAST(p.commission_rate AS REAL)
                 END / 100.0), 2) AS commission,
       count(*) AS lines
  FROM attributions AS a
  JOIN partners AS p ON p.partner_id = a.partner_id
 WHERE a.deal_status = 'won'
 GROUP BY p.partner_id
HAVING commission >= 100.00
 ORDER BY p.partner_id;
