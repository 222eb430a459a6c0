-- Objectives: per pattern, versioned (a new row per change, never updated), the guardrails and
-- the winning metric a decision uses. The newest version is the pattern's objective.
CREATE TABLE objectives (
    pattern_id  text NOT NULL CHECK (pattern_id <> ''),
    version     integer NOT NULL CHECK (version >= 1),
    body        jsonb NOT NULL CHECK (jsonb_typeof(body) = 'object'),
    actor       text NOT NULL CHECK (actor <> ''),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (pattern_id, version)
);

-- One evidence record per look at an experiment: every metric's estimate, bound, margin and
-- verdict, as the decision saw them.
CREATE TABLE improvement_looks (
    improvement_id  uuid NOT NULL REFERENCES improvements (improvement_id),
    look            integer NOT NULL CHECK (look >= 1),
    at              timestamptz NOT NULL DEFAULT now(),
    correlation_id  uuid NULL,
    decision        text NOT NULL,
    evidence        jsonb NOT NULL CHECK (jsonb_typeof(evidence) = 'object'),
    PRIMARY KEY (improvement_id, look)
);

-- 'inconclusive': the horizon came without a decision. 'blocked': the arms stopped being
-- comparable (sample ratio or logging completeness) until a person looks.
ALTER TABLE improvements DROP CONSTRAINT improvements_status_check;
ALTER TABLE improvements ADD CONSTRAINT improvements_status_check
    CHECK (status IN ('proposed', 'testing', 'validated', 'applied', 'rejected', 'inconclusive',
                      'blocked'));

ALTER TABLE audit_log DROP CONSTRAINT audit_log_action_check;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_action_check
    CHECK (action IN ('register', 'propose', 'validate', 'apply', 'approve', 'reject', 'rollback',
                      'archive', 'inconclusive', 'objective', 'block', 'resume'));
