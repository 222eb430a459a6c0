-- A run is one attempt of a correlation id: a failed or abandoned attempt is run again as the
-- next one, a succeeded one is replayed. 'abandoned': its session died while it was running.
ALTER TABLE loop_runs ADD COLUMN attempt integer NOT NULL DEFAULT 1 CHECK (attempt >= 1);
ALTER TABLE loop_runs DROP CONSTRAINT loop_runs_pkey;
ALTER TABLE loop_runs ADD CONSTRAINT loop_runs_pkey PRIMARY KEY (correlation_id, attempt);
ALTER TABLE loop_runs DROP CONSTRAINT loop_runs_status_check;
ALTER TABLE loop_runs ADD CONSTRAINT loop_runs_status_check
    CHECK (status IN ('running', 'succeeded', 'failed', 'abandoned'));
CREATE INDEX loop_runs_running_idx ON loop_runs (pattern_id) WHERE status = 'running';
