-- A bucket's duration histogram as two aligned arrays, its bins and their counts, instead of a
-- JSON object: every look read each bucket's histogram through jsonb_each_text (a
-- row per bin, text cast to numbers: about two thirds of the time of a span's query), and an
-- array is read as it is stored. Merging two histograms (the trigger's upsert, a day's roll-up)
-- adds the counts of equal bins, as before.

-- The kept splits hold whole bucket rows, whose type changes here: they are a cache (a look
-- reads the part again when it is not kept), so the table is made again, empty.
DROP TABLE execution_bucket_splits;

ALTER TABLE execution_buckets
    ADD COLUMN bins_as_array integer[],
    ADD COLUMN duration_counts bigint[];
UPDATE execution_buckets b
SET (bins_as_array, duration_counts) = (
    SELECT array_agg(e.key::integer ORDER BY e.key::integer),
           array_agg(e.value::bigint ORDER BY e.key::integer)
    FROM jsonb_each_text(b.duration_bins) AS e);
ALTER TABLE execution_buckets
    DROP COLUMN duration_bins,
    ALTER COLUMN bins_as_array SET NOT NULL,
    ALTER COLUMN duration_counts SET NOT NULL,
    ADD CHECK (cardinality(bins_as_array) = cardinality(duration_counts));
ALTER TABLE execution_buckets RENAME COLUMN bins_as_array TO duration_bins;
DROP FUNCTION feedback_merge_bins(jsonb, jsonb);

CREATE TABLE execution_bucket_splits (
    pattern_id         text NOT NULL,
    version_id         text NOT NULL,
    width              text NOT NULL DEFAULT 'hour' CHECK (width = 'hour'),
    bucket_start       timestamptz NOT NULL,
    split_at           timestamptz NOT NULL,
    bucket_n           bigint NOT NULL,
    bucket_reward_sum  double precision NULL,
    part               execution_buckets NOT NULL,
    PRIMARY KEY (pattern_id, version_id, width, bucket_start, split_at),
    FOREIGN KEY (pattern_id, version_id, width, bucket_start)
        REFERENCES execution_buckets ON DELETE CASCADE
);

-- The one definition of a bucket (migration 0011's), its histogram now the two arrays.
CREATE OR REPLACE FUNCTION feedback_bucket_query(source text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN format($query$
    SELECT s.pattern_id, s.version_id, 'hour'::text, s.hour, sum(s.n)::bigint,
           sum(s.successes)::bigint, sum(s.timeouts)::bigint, min(s.first_at), max(s.last_at),
           sum(s.duration_sum), sum(s.duration_sq), sum(s.log_duration_sum),
           sum(s.log_duration_sq), sum(s.quality_n)::bigint, coalesce(sum(s.quality_sum), 0),
           coalesce(sum(s.quality_sq), 0), sum(s.rating_n)::bigint,
           coalesce(sum(s.rating_sum), 0), coalesce(sum(s.rating_sq), 0),
           sum(s.cost_n)::bigint, coalesce(sum(s.cost_sum), 0), coalesce(sum(s.cost_sq), 0),
           sum(s.reward_sum), sum(s.reward_sq),
           -- Aligned without ORDER BY (both see the group's rows in one order); sorting them
           -- made a 200,000-row COPY a tenth slower. Readers take bins in any order.
           array_agg(s.bin), array_agg(s.n)
    FROM (
        SELECT r.pattern_id, r.version_id, r.hour, r.bin,
               count(*) AS n,
               count(*) FILTER (WHERE r.status = 'success') AS successes,
               count(*) FILTER (WHERE r.status = 'timeout') AS timeouts,
               min(r.started_at) AS first_at, max(r.started_at) AS last_at,
               sum(r.d) AS duration_sum, sum(r.d * r.d) AS duration_sq,
               sum(r.l) AS log_duration_sum, sum(r.l * r.l) AS log_duration_sq,
               count(r.q) AS quality_n, sum(r.q) AS quality_sum, sum(r.q * r.q) AS quality_sq,
               count(r.rating) AS rating_n, sum(r.rating) AS rating_sum,
               sum(r.rating * r.rating) AS rating_sq,
               count(r.cost) AS cost_n, sum(r.cost) AS cost_sum, sum(r.cost * r.cost) AS cost_sq,
               sum(r.reward) AS reward_sum, sum(r.reward * r.reward) AS reward_sq
        FROM (SELECT x.pattern_id, coalesce(x.version_id, '') AS version_id,
                     date_bin('1 hour', x.started_at, timestamptz '0001-01-01 00:00:00+00')
                         AS hour,
                     feedback_duration_bin(x.duration_ms) AS bin,
                     x.started_at, x.status, x.duration_ms AS d, ln(1 + x.duration_ms) AS l,
                     (x.quality_results ->> 'score')::float8 AS q,
                     x.user_rating::float8 AS rating, x.cost_usd AS cost,
                     CASE WHEN p.pattern_id IS NOT NULL
                          THEN feedback_reward(p, x.duration_ms, x.cost_usd, x.status) END
                         AS reward
              FROM %1$s AS x LEFT JOIN execution_reward_params p USING (pattern_id)) AS r
        GROUP BY 1, 2, 3, 4
    ) AS s
    GROUP BY 1, 2, 4
$query$, source);

-- Two histograms added bin by bin (the sum's bins ascending).
CREATE FUNCTION feedback_merge_histograms(
    a_bins integer[], a_counts bigint[], b_bins integer[], b_counts bigint[],
    OUT bins integer[], OUT counts bigint[]
)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT array_agg(bin ORDER BY bin), array_agg(total ORDER BY bin)
    FROM (SELECT bin, sum(count)::bigint AS total
          FROM (SELECT * FROM unnest(a_bins, a_counts)
                UNION ALL SELECT * FROM unnest(b_bins, b_counts)) AS both_bins (bin, count)
          GROUP BY bin) AS merged
$$;

-- The raw parts' buckets, regenerated from the definition (as in migration 0011).
DO $migration$
BEGIN
    EXECUTE format($create$
        CREATE OR REPLACE FUNCTION feedback_raw_buckets(
            pattern text, versions text[], from_at timestamptz, to_at timestamptz
        ) RETURNS SETOF execution_buckets
        LANGUAGE plpgsql STABLE
        SET plan_cache_mode = force_generic_plan
        AS $body$
        BEGIN
            IF from_at < to_at THEN
                RETURN QUERY %s;
            END IF;
        END
        $body$
    $create$, feedback_bucket_query(
        '(SELECT * FROM hook_executions WHERE pattern_id = feedback_raw_buckets.pattern'
        ' AND started_at >= feedback_raw_buckets.from_at'
        ' AND started_at < feedback_raw_buckets.to_at'
        ' AND (feedback_raw_buckets.versions IS NULL'
        '      OR coalesce(version_id, '''') = ANY(feedback_raw_buckets.versions)))'));
END
$migration$;

-- The trigger (migration 0007's), merging the arrays; its work_mem as set by migration 0011.
CREATE OR REPLACE FUNCTION feedback_executions_inserted() RETURNS trigger
LANGUAGE plpgsql
SET work_mem = '64MB'
AS $$
BEGIN
    INSERT INTO execution_ids (execution_id, started_at)
    SELECT execution_id, started_at FROM new_rows;
    PERFORM 1 FROM execution_reward_params
    WHERE pattern_id IN (SELECT DISTINCT pattern_id FROM new_rows)
    ORDER BY pattern_id FOR SHARE;
    EXECUTE 'INSERT INTO execution_buckets AS b ' || feedback_bucket_query('new_rows') || $upsert$
    -- One order for every writer, so two statements adding to the same buckets cannot deadlock.
    ORDER BY 1, 2, 4
    ON CONFLICT (pattern_id, version_id, width, bucket_start) DO UPDATE SET
        n = b.n + excluded.n,
        successes = b.successes + excluded.successes,
        timeouts = b.timeouts + excluded.timeouts,
        first_at = least(b.first_at, excluded.first_at),
        last_at = greatest(b.last_at, excluded.last_at),
        duration_sum = b.duration_sum + excluded.duration_sum,
        duration_sq = b.duration_sq + excluded.duration_sq,
        log_duration_sum = b.log_duration_sum + excluded.log_duration_sum,
        log_duration_sq = b.log_duration_sq + excluded.log_duration_sq,
        quality_n = b.quality_n + excluded.quality_n,
        quality_sum = b.quality_sum + excluded.quality_sum,
        quality_sq = b.quality_sq + excluded.quality_sq,
        rating_n = b.rating_n + excluded.rating_n,
        rating_sum = b.rating_sum + excluded.rating_sum,
        rating_sq = b.rating_sq + excluded.rating_sq,
        cost_n = b.cost_n + excluded.cost_n,
        cost_sum = b.cost_sum + excluded.cost_sum,
        cost_sq = b.cost_sq + excluded.cost_sq,
        reward_sum = b.reward_sum + excluded.reward_sum,
        reward_sq = b.reward_sq + excluded.reward_sq,
        (duration_bins, duration_counts) = (
            SELECT m.bins, m.counts FROM feedback_merge_histograms(
                b.duration_bins, b.duration_counts,
                excluded.duration_bins, excluded.duration_counts) AS m)
    $upsert$;
    RETURN NULL;
END
$$;
