-- Executions partitioned by day, with hourly buckets of their statistics and a retention horizon.
--
-- hook_executions becomes a table partitioned by range of started_at, one partition per UTC
-- day, created ahead of the rows that need it (no DEFAULT partition: a row with no partition
-- is refused, never kept somewhere retention cannot see). A partitioned table's unique keys
-- must contain the partition key, so execution_id's uniqueness across all partitions is kept by
-- execution_ids, a plain table whose primary key is the id. A statement trigger on
-- hook_executions fills it and the buckets from the statement's new rows in one pass each, for
-- every writer: our COPY, a user's INSERT, a hook. A duplicate id fails the whole statement.
--
-- execution_buckets: per pattern, version ('' for rows without one) and UTC hour, the counts,
-- sums and sums of squares of every metric a look reads, the first and last started_at, and
-- the durations as a histogram on a logarithmic grid (bin i holds gamma^(i-1) < d <= gamma^i,
-- gamma = 1.001: values within 0.1 % of each other share a bin; counts are exact, so the ranks read
-- off it are exact and the values are known to within their bin). The reward depends on the
-- pattern's objective, so it is summed under the pattern's row in execution_reward_params;
-- changing it rebuilds the sums from raw rows in the same transaction (a pattern without a row
-- has NULL reward sums, and readers read its rows raw). When retention drops a day's partition,
-- its hours are rolled up into one 'day' bucket.

ALTER TABLE hook_executions RENAME TO hook_executions_before_0007;
ALTER INDEX hook_executions_pattern_started_idx RENAME TO hook_executions_before_0007_idx;

-- The same columns, defaults, NOT NULLs and CHECKs (by their names), without the primary key.
CREATE TABLE hook_executions (
    LIKE hook_executions_before_0007 INCLUDING DEFAULTS INCLUDING CONSTRAINTS
) PARTITION BY RANGE (started_at);
CREATE INDEX hook_executions_pattern_started_idx ON hook_executions (pattern_id, started_at);
-- The analysis counts a window's errors by message: this reads only the rows that have one.
CREATE INDEX hook_executions_pattern_errors_idx ON hook_executions (pattern_id, started_at)
    WHERE error_message IS NOT NULL;

CREATE TABLE execution_ids (
    execution_id uuid PRIMARY KEY,
    started_at   timestamptz NOT NULL
);
-- Retention deletes ids by time; rows arrive roughly in time order, which a BRIN index suits
-- at almost no cost to ingest.
CREATE INDEX execution_ids_started_brin ON execution_ids USING brin (started_at);

-- One row: how long executions are kept, and the lower bound of the oldest kept partition once
-- retention has dropped any (rows before either are refused).
CREATE TABLE execution_retention (
    singleton      boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    retention_days integer NOT NULL DEFAULT 30 CHECK (retention_days BETWEEN 1 AND 1000),
    kept_from      timestamptz NULL
);
INSERT INTO execution_retention DEFAULT VALUES;

-- The earliest started_at a new row may have: the retention horizon, or the oldest kept
-- partition's lower bound when that is later. ``days`` instead of the setting: what a new
-- setting would make it (a dry run of retention).
CREATE FUNCTION feedback_execution_horizon(days integer DEFAULT NULL) RETURNS timestamptz
LANGUAGE sql STABLE
RETURN (SELECT greatest(now() - make_interval(days => coalesce(days, retention_days)), kept_from)
        FROM execution_retention);

-- A partition for every UTC day from the horizon's to the day of ``through``: the rows a
-- writer may store always have one. Returns the horizon. Creating a partition locks the parent
-- table briefly, so callers run this in a short transaction of its own, ahead of their writes;
-- days that exist already cost a catalog lookup each.
CREATE FUNCTION feedback_prepare_execution_partitions(through timestamptz)
RETURNS timestamptz
LANGUAGE plpgsql AS $$
DECLARE
    horizon timestamptz := feedback_execution_horizon();
    day date;
    locked boolean := false;
BEGIN
    FOR day IN SELECT generate_series((horizon AT TIME ZONE 'UTC')::date,
                                      (through AT TIME ZONE 'UTC')::date, interval '1 day')::date
    LOOP
        IF to_regclass(format('%I', 'hook_executions_p' || to_char(day, 'YYYYMMDD'))) IS NULL
        THEN
            IF NOT locked THEN
                -- Two writers creating the same day would collide in the catalog.
                PERFORM pg_advisory_xact_lock(hashtext('feedback_execution_partitions'));
                locked := true;
            END IF;
            EXECUTE format(
                'CREATE TABLE IF NOT EXISTS %I PARTITION OF hook_executions '
                'FOR VALUES FROM (%L) TO (%L)',
                'hook_executions_p' || to_char(day, 'YYYYMMDD'),
                day::timestamp AT TIME ZONE 'UTC', (day + 1)::timestamp AT TIME ZONE 'UTC');
        END IF;
    END LOOP;
    RETURN horizon;
END
$$;

-- The composite reward's numbers per pattern, the ones execution_buckets' reward sums use:
-- weights success, latency, cost, error; bounds max latency (ms), max cost (USD).
CREATE TABLE execution_reward_params (
    pattern_id     text PRIMARY KEY CHECK (pattern_id <> ''),
    w_success      double precision NOT NULL,
    w_latency      double precision NOT NULL,
    w_cost         double precision NOT NULL,
    w_error        double precision NOT NULL,
    max_latency_ms double precision NOT NULL CHECK (max_latency_ms > 0),
    max_cost_usd   double precision NOT NULL CHECK (max_cost_usd > 0)
);

CREATE TABLE execution_buckets (
    pattern_id        text NOT NULL,
    version_id        text NOT NULL,
    width             text NOT NULL CHECK (width IN ('hour', 'day')),
    bucket_start      timestamptz NOT NULL,
    n                 bigint NOT NULL CHECK (n > 0),
    successes         bigint NOT NULL,
    timeouts          bigint NOT NULL,
    first_at          timestamptz NOT NULL,
    last_at           timestamptz NOT NULL,
    duration_sum      double precision NOT NULL,
    duration_sq       double precision NOT NULL,
    log_duration_sum  double precision NOT NULL,
    log_duration_sq   double precision NOT NULL,
    quality_n         bigint NOT NULL,
    quality_sum       double precision NOT NULL,
    quality_sq        double precision NOT NULL,
    rating_n          bigint NOT NULL,
    rating_sum        double precision NOT NULL,
    rating_sq         double precision NOT NULL,
    cost_n            bigint NOT NULL,
    cost_sum          double precision NOT NULL,
    cost_sq           double precision NOT NULL,
    reward_sum        double precision NULL,
    reward_sq         double precision NULL,
    duration_bins     jsonb NOT NULL CHECK (jsonb_typeof(duration_bins) = 'object'),
    PRIMARY KEY (pattern_id, version_id, width, bucket_start)
);

-- The histogram's bin of a duration (ms); durations under 1e-6 ms share the lowest bin.
CREATE FUNCTION feedback_duration_bin(duration_ms double precision) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ceil(ln(greatest(duration_ms, 1e-6)) / ln(1.001::float8))::integer;

-- Two histograms added bin by bin.
CREATE FUNCTION feedback_merge_bins(a jsonb, b jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (SELECT coalesce(jsonb_object_agg(k, total), '{}'::jsonb)
        FROM (SELECT k, sum(v::bigint) AS total
              FROM (SELECT * FROM jsonb_each_text(a) UNION ALL SELECT * FROM jsonb_each_text(b))
                   AS both_bins (k, v)
              GROUP BY k) AS merged);

-- The reward of one execution: the composite reward's formula, clamped to [0, 1].
CREATE FUNCTION feedback_reward(
    p execution_reward_params, duration_ms double precision, cost_usd double precision,
    status text
) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN greatest(0, least(1, 1 - p.w_latency * least(duration_ms / p.max_latency_ms, 1)
    - p.w_cost * least(coalesce(cost_usd, 0) / p.max_cost_usd, 1)
    - CASE WHEN status = 'success' THEN 0 ELSE p.w_success + p.w_error END));

-- The hour buckets of a set of executions, as a query over ``source`` (a relation or a
-- parenthesised subquery): the one definition of a bucket, used by the trigger below on a
-- statement's new rows and by feedback_raw_buckets on stored rows.
CREATE FUNCTION feedback_bucket_query(source text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN format($query$
    SELECT s.pattern_id, s.version_id, 'hour'::text, s.hour, s.n, s.successes, s.timeouts,
           s.first_at, s.last_at, s.duration_sum, s.duration_sq, s.log_duration_sum,
           s.log_duration_sq, s.quality_n, s.quality_sum, s.quality_sq, s.rating_n,
           s.rating_sum, s.rating_sq, s.cost_n, s.cost_sum, s.cost_sq, s.reward_sum,
           s.reward_sq, h.bins
    FROM (
        SELECT r.pattern_id, coalesce(r.version_id, '') AS version_id,
               date_trunc('hour', r.started_at, 'UTC') AS hour,
               count(*) AS n,
               count(*) FILTER (WHERE r.status = 'success') AS successes,
               count(*) FILTER (WHERE r.status = 'timeout') AS timeouts,
               min(r.started_at) AS first_at, max(r.started_at) AS last_at,
               sum(r.duration_ms) AS duration_sum, sum(r.duration_ms ^ 2) AS duration_sq,
               sum(ln(1 + r.duration_ms)) AS log_duration_sum,
               sum(ln(1 + r.duration_ms) ^ 2) AS log_duration_sq,
               count(r.q) AS quality_n, coalesce(sum(r.q), 0) AS quality_sum,
               coalesce(sum(r.q ^ 2), 0) AS quality_sq,
               count(r.user_rating) AS rating_n,
               coalesce(sum(r.user_rating), 0)::float8 AS rating_sum,
               coalesce(sum(r.user_rating::float8 ^ 2), 0) AS rating_sq,
               count(r.cost_usd) AS cost_n, coalesce(sum(r.cost_usd), 0) AS cost_sum,
               coalesce(sum(r.cost_usd ^ 2), 0) AS cost_sq,
               sum(r.reward) AS reward_sum, sum(r.reward ^ 2) AS reward_sq
        FROM (SELECT x.*, (x.quality_results ->> 'score')::float8 AS q,
                     CASE WHEN p.pattern_id IS NOT NULL
                          THEN feedback_reward(p, x.duration_ms, x.cost_usd, x.status) END
                         AS reward
              FROM %1$s AS x LEFT JOIN execution_reward_params p USING (pattern_id)) AS r
        GROUP BY 1, 2, 3
    ) AS s
    JOIN (
        SELECT pattern_id, version_id, hour, jsonb_object_agg(bin, count) AS bins
        FROM (SELECT pattern_id, coalesce(version_id, '') AS version_id,
                     date_trunc('hour', started_at, 'UTC') AS hour,
                     feedback_duration_bin(duration_ms) AS bin, count(*) AS count
              FROM %1$s AS y GROUP BY 1, 2, 3, 4) AS per_bin
        GROUP BY 1, 2, 3
    ) AS h USING (pattern_id, version_id, hour)
$query$, source);

-- The buckets of the stored rows of one pattern (of ``versions``, or all when NULL; '' is a
-- row without a version) with from_at <= started_at < to_at: for the partial hours at the ends
-- of a span whose whole hours are read from execution_buckets.
CREATE FUNCTION feedback_raw_buckets(
    pattern text, versions text[], from_at timestamptz, to_at timestamptz
) RETURNS SETOF execution_buckets
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF from_at < to_at THEN
        RETURN QUERY EXECUTE feedback_bucket_query(
            '(SELECT * FROM hook_executions WHERE pattern_id = $1 AND started_at >= $3 '
            'AND started_at < $4 AND ($2 IS NULL OR coalesce(version_id, '''') = ANY($2)))')
        USING pattern, versions, from_at, to_at;
    END IF;
END
$$;

-- Adds a statement's new rows to execution_ids and to their hour buckets. The patterns'
-- reward rows are locked FOR SHARE first, so a concurrent change of a reward waits for this
-- statement's transaction (and rebuilds with its rows), or this one reads the changed values.
CREATE FUNCTION feedback_executions_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
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
        duration_bins = feedback_merge_bins(b.duration_bins, excluded.duration_bins)
    $upsert$;
    RETURN NULL;
END
$$;

CREATE TRIGGER hook_executions_inserted
    AFTER INSERT ON hook_executions REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION feedback_executions_inserted();

-- Rows of the table before this migration: a partition per day they cover, then one INSERT
-- (the trigger fills execution_ids and the buckets).
-- Rows older than the default horizon keep their own days' partitions (retention drops them on
-- its first run, after their buckets are rolled up).
DO $$
DECLARE
    day date;
BEGIN
    FOR day IN SELECT DISTINCT (started_at AT TIME ZONE 'UTC')::date
               FROM hook_executions_before_0007 ORDER BY 1
    LOOP
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF hook_executions FOR VALUES FROM (%L) TO (%L)',
            'hook_executions_p' || to_char(day, 'YYYYMMDD'),
            day::timestamp AT TIME ZONE 'UTC', (day + 1)::timestamp AT TIME ZONE 'UTC');
    END LOOP;
END
$$;
INSERT INTO hook_executions SELECT * FROM hook_executions_before_0007;
DROP TABLE hook_executions_before_0007;

-- A week ahead, so writers find today's partitions even before anything of ours runs again.
SELECT feedback_prepare_execution_partitions(now() + interval '7 days');
