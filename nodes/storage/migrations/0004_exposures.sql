-- Exposures recorded by assign(), batched in memory and flushed: the first exposure of each unit
-- under each traffic split (distinct units per arm, for the sample-ratio test), and assign calls
-- per version and time bucket (logged executions per call, for the completeness test).
CREATE TABLE exposure_units (
    pattern_id  text NOT NULL,
    allocation  bigint NOT NULL,  -- fingerprint of the split the unit was assigned under
    unit_hash   bigint NOT NULL,
    version_id  text NOT NULL,
    first_at    timestamptz NOT NULL,
    PRIMARY KEY (pattern_id, allocation, unit_hash)
);
CREATE INDEX exposure_units_arm_idx ON exposure_units (pattern_id, allocation, version_id, first_at);

CREATE TABLE exposure_calls (
    pattern_id    text NOT NULL,
    version_id    text NOT NULL,
    bucket_start  timestamptz NOT NULL,
    calls         bigint NOT NULL CHECK (calls >= 0),
    PRIMARY KEY (pattern_id, version_id, bucket_start)
);

-- After a person acknowledges a sample-ratio or completeness flag, both tests start again from
-- this moment (a new epoch), so the evidence that raised the flag does not raise it again.
ALTER TABLE improvements ADD COLUMN srm_epoch_at timestamptz NULL;
