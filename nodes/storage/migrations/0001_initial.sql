-- The data model: executions, versions, lineage, improvements, runs and the audit log.
-- Constraints live here so that no writer, ours or the user's hooks, can store a row the
-- loop would misread.

CREATE TABLE hook_executions (
    execution_id      uuid PRIMARY KEY,
    pattern_id        text NOT NULL CHECK (pattern_id <> ''),
    version_id        text NULL,
    variant           text NULL,
    started_at        timestamptz NOT NULL,
    duration_ms       double precision NOT NULL
                      CHECK (duration_ms >= 0 AND duration_ms < 'Infinity'::float8),
    status            text NOT NULL CHECK (status IN ('success', 'failure', 'timeout', 'error')),
    quality_results   jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (
                          jsonb_typeof(quality_results) = 'object'
                          AND CASE jsonb_typeof(quality_results -> 'score')
                                  WHEN 'number' THEN (quality_results ->> 'score')::float8
                                                     BETWEEN 0 AND 1
                                  WHEN 'null' THEN true
                                  ELSE quality_results -> 'score' IS NULL
                              END),
    performance_score double precision NULL,
    error_message     text NULL,
    user_rating       smallint NULL CHECK (user_rating BETWEEN 1 AND 5),
    cost_usd          double precision NULL CHECK (cost_usd >= 0),
    metadata          jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(metadata) = 'object')
);
CREATE INDEX hook_executions_pattern_started_idx ON hook_executions (pattern_id, started_at);

CREATE TABLE pattern_versions (
    version_id     text PRIMARY KEY,
    pattern_id     text NOT NULL CHECK (pattern_id <> ''),
    version        text NOT NULL CHECK (version ~ '^[0-9]+\.[0-9]+\.[0-9]+$'),
    status         text NOT NULL
                   CHECK (status IN ('draft', 'testing', 'active', 'archived', 'rejected')),
    config         jsonb NOT NULL CHECK (jsonb_typeof(config) = 'object'),
    traffic_weight double precision NOT NULL DEFAULT 0 CHECK (traffic_weight >= 0),
    metrics        jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(metrics) = 'object'),
    correlation_id uuid NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pattern_versions_id_is_pattern_at_version CHECK (version_id = pattern_id || '@' || version),
    CONSTRAINT pattern_versions_pattern_version_key UNIQUE (pattern_id, version)
);
-- Exactly one active version per pattern, enforced by the database itself.
CREATE UNIQUE INDEX pattern_versions_one_active_idx ON pattern_versions (pattern_id)
    WHERE status = 'active';
CREATE INDEX pattern_versions_pattern_status_idx ON pattern_versions (pattern_id, status);

CREATE TABLE lineage_edges (
    parent_id      text NOT NULL REFERENCES pattern_versions (version_id),
    child_id       text NOT NULL REFERENCES pattern_versions (version_id),
    relation       text NOT NULL
                   CHECK (relation IN ('derived_from', 'improved_version', 'rolled_back_to')),
    correlation_id uuid NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT lineage_edges_pkey PRIMARY KEY (child_id, parent_id, relation),
    CONSTRAINT lineage_edges_no_self_edge CHECK (parent_id <> child_id)
);
CREATE INDEX lineage_edges_parent_child_idx ON lineage_edges (parent_id, child_id);

CREATE TABLE improvements (
    improvement_id       uuid PRIMARY KEY,
    pattern_id           text NOT NULL CHECK (pattern_id <> ''),
    base_version_id      text NOT NULL REFERENCES pattern_versions (version_id),
    candidate_version_id text NULL UNIQUE REFERENCES pattern_versions (version_id),
    generator            text NOT NULL,
    improvement_type     text NOT NULL
                         CHECK (improvement_type IN ('performance', 'quality', 'reliability', 'usage')),
    description          text NOT NULL,
    config_diff          jsonb NOT NULL CHECK (jsonb_typeof(config_diff) = 'object'),
    expected_delta       double precision NOT NULL,
    risk                 text NOT NULL CHECK (risk IN ('low', 'medium', 'high')),
    status               text NOT NULL
                         CHECK (status IN ('proposed', 'testing', 'validated', 'applied', 'rejected')),
    p_value              double precision NULL CHECK (p_value BETWEEN 0 AND 1),
    confidence           double precision NULL CHECK (confidence BETWEEN 0 AND 1),
    performance_delta    double precision NULL,
    decision_reason      text NULL,
    correlation_id       uuid NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX improvements_pattern_status_idx ON improvements (pattern_id, status);

CREATE TABLE loop_runs (
    correlation_id uuid PRIMARY KEY,
    pattern_id     text NOT NULL CHECK (pattern_id <> ''),
    status         text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    input          jsonb NOT NULL,
    stages         jsonb NOT NULL DEFAULT '[]'::jsonb,
    output         jsonb NULL,
    error          jsonb NULL,
    started_at     timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz NULL
);
CREATE INDEX loop_runs_pattern_started_idx ON loop_runs (pattern_id, started_at);

CREATE TABLE audit_log (
    audit_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at             timestamptz NOT NULL DEFAULT now(),
    actor          text NOT NULL CHECK (actor <> ''),
    action         text NOT NULL CHECK (action IN
                       ('register', 'propose', 'validate', 'apply', 'approve', 'reject', 'rollback', 'archive')),
    pattern_id     text NOT NULL,
    version_id     text NULL REFERENCES pattern_versions (version_id),
    improvement_id uuid NULL REFERENCES improvements (improvement_id),
    correlation_id uuid NULL,
    reason         text NOT NULL,
    details        jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_pattern_at_idx ON audit_log (pattern_id, at);
