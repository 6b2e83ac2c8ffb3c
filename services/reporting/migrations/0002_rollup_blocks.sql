-- Power-of-two blocks inside the month and inside the year, so that a cumulative sum up to
-- any day reads at most 4 day blocks and 3 month blocks per (agency, field) besides the
-- year buckets (docs/reporting.md, "Bounded reads"):
--   'D2', 'D4', 'D8', 'D16'  days of one month, the block's first day − 1 a multiple of its size
--   'M2', 'M4', 'M8'         months of one year, aligned on January the same way
-- Every delta adds to the day, its four day blocks, the month, its three month blocks and
-- the year (services/reporting/domain/cumulative.py: buckets_of, pieces_before).

ALTER TABLE reporting.field_rollup DROP CONSTRAINT field_rollup_grain_check;
ALTER TABLE reporting.field_rollup ADD CONSTRAINT field_rollup_grain_check
    CHECK (grain IN ('D', 'D2', 'D4', 'D8', 'D16', 'M', 'M2', 'M4', 'M8', 'Y'));

-- The buckets one local day is added to; the same rule as buckets_of() in Python (a test
-- compares them day by day). Used by set-based statements: re-booking a field, this backfill.
CREATE FUNCTION reporting.buckets_of(day date) RETURNS TABLE (grain text, bucket date)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT g.grain, g.bucket
    FROM (SELECT date_trunc('month', day)::date AS m0,
                 extract(day FROM day)::int - 1 AS d,
                 extract(year FROM day)::int AS y,
                 extract(month FROM day)::int - 1 AS m) AS p
    CROSS JOIN LATERAL (VALUES
        ('D', day),
        ('D2', p.m0 + p.d / 2 * 2),
        ('D4', p.m0 + p.d / 4 * 4),
        ('D8', p.m0 + p.d / 8 * 8),
        ('D16', p.m0 + p.d / 16 * 16),
        ('M', p.m0),
        ('M2', make_date(p.y, p.m / 2 * 2 + 1, 1)),
        ('M4', make_date(p.y, p.m / 4 * 4 + 1, 1)),
        ('M8', make_date(p.y, p.m / 8 * 8 + 1, 1)),
        ('Y', make_date(p.y, 1, 1))
    ) AS g(grain, bucket)
$$;

INSERT INTO reporting.field_rollup (grain, bucket, agency_code, field, received, received_online,
    received_postal, resolved_early, resolved_on_time, resolved_late, resolved_index_late,
    processing_mdays, processing_n, closed, due, due_closed)
SELECT b.grain, b.bucket, r.agency_code, r.field, sum(r.received), sum(r.received_online),
       sum(r.received_postal), sum(r.resolved_early), sum(r.resolved_on_time), sum(r.resolved_late),
       sum(r.resolved_index_late), sum(r.processing_mdays), sum(r.processing_n), sum(r.closed),
       sum(r.due), sum(r.due_closed)
FROM reporting.field_rollup r
CROSS JOIN LATERAL reporting.buckets_of(r.bucket) AS b
WHERE r.grain = 'D' AND b.grain NOT IN ('D', 'M', 'Y')
GROUP BY 1, 2, 3, 4;
