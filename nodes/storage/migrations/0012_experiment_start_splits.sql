-- An experiment's first hour, split at its start. A look reads the control's rows of that hour
-- from the start on raw (the hour's bucket also holds the rows before it), at every look. Once
-- the hour is over, that part no longer changes unless a late row lands in the hour: it is kept
-- here with the bucket's count and reward sum at the time, and reused while both are unchanged
-- (a late row changes the count; a new objective's reward, rebuilding the sums, changes the
-- reward sum). Rows go with their hour bucket (retention rolls hour buckets up into days).
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
