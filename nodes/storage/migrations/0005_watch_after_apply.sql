-- After an apply the previous version keeps a holdback share of traffic until watch_until, and
-- the new version is rolled back automatically if it shows itself worse than a guardrail's
-- margin. watch_outcome: NULL while watching (or never watched), then 'held' or 'rolled_back'.
-- watch_from: executions from then on are compared (the deciding run's window end).
ALTER TABLE improvements ADD COLUMN watch_from timestamptz NULL;
ALTER TABLE improvements ADD COLUMN watch_until timestamptz NULL;
ALTER TABLE improvements ADD COLUMN watch_outcome text NULL
    CHECK (watch_outcome IN ('held', 'rolled_back'));
CREATE INDEX improvements_watching_idx ON improvements (pattern_id)
    WHERE watch_until IS NOT NULL AND watch_outcome IS NULL;

ALTER TABLE audit_log DROP CONSTRAINT audit_log_action_check;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_action_check
    CHECK (action IN ('register', 'propose', 'validate', 'apply', 'approve', 'reject', 'rollback',
                      'archive', 'inconclusive', 'objective', 'block', 'resume', 'hold'));
