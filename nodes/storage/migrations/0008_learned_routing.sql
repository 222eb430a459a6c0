-- Learned routing: the state every LearningEngine process shares. Statistics are additive
-- (pulls, sums), so each process writes what it learned since its last flush as deltas
-- (pulls = pulls + delta) and the counts of many processes add up exactly.

-- One row per routing domain: its policy, the freeze (kill switch: serve frozen_arm, learn
-- nothing) and its epoch, incremented by every reset so deltas learned before it are dropped.
CREATE TABLE routing_domains (
    domain      text PRIMARY KEY,
    policy      text NOT NULL,
    frozen      boolean NOT NULL DEFAULT false,
    frozen_arm  text NULL,
    epoch       bigint NOT NULL DEFAULT 0 CHECK (epoch >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Per-variant statistics of each arm (the variant is the policy that learned them: one per
-- domain, several under the experiment harness).
CREATE TABLE routing_arms (
    domain      text NOT NULL REFERENCES routing_domains (domain) ON DELETE CASCADE,
    policy      text NOT NULL,
    arm         text NOT NULL,
    pulls       bigint NOT NULL DEFAULT 0 CHECK (pulls >= 0),
    reward_sum  double precision NOT NULL DEFAULT 0,
    regret_sum  double precision NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (domain, policy, arm)
);

-- LinTS (diagonal): per arm and feature, the sums of x^2 and of reward * x.
CREATE TABLE routing_lints (
    domain   text NOT NULL,
    policy   text NOT NULL,
    arm      text NOT NULL,
    feature  integer NOT NULL CHECK (feature >= 0),
    a_sum    double precision NOT NULL DEFAULT 0,
    b_sum    double precision NOT NULL DEFAULT 0,
    PRIMARY KEY (domain, policy, arm, feature),
    FOREIGN KEY (domain, policy, arm) REFERENCES routing_arms ON DELETE CASCADE
);

-- Every decision with its propensity (for off-policy evaluation later). policy_share is the
-- probability that the deciding policy was the one asked (1 without the experiment harness).
CREATE TABLE routing_decisions (
    decision_id   uuid PRIMARY KEY,
    domain        text NOT NULL,
    policy        text NOT NULL,
    arm           text NOT NULL,
    propensity    double precision NOT NULL,
    policy_share  double precision NOT NULL CHECK (policy_share > 0 AND policy_share <= 1),
    context       double precision[] NULL,
    decided_at    timestamptz NOT NULL
);
CREATE INDEX routing_decisions_domain_idx ON routing_decisions (domain, decided_at);

-- Flushed batches: (writer, seq) is inserted in the batch's own transaction, so a writer that
-- lost the connection during COMMIT retries the batch and learns from the key whether it had
-- committed. Rows are pruned: a writer's older batches on its next flush, anyone's after a day.
CREATE TABLE routing_flushes (
    writer_id   uuid NOT NULL,
    seq         bigint NOT NULL,
    flushed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (writer_id, seq)
);
CREATE INDEX routing_flushes_age_idx ON routing_flushes (flushed_at);

-- The Q-learning router's table, one per router name.
CREATE TABLE routing_q_table (
    router        text NOT NULL,
    state         text NOT NULL,
    action        text NOT NULL,
    q_value       double precision NOT NULL,
    update_count  bigint NOT NULL DEFAULT 0 CHECK (update_count >= 0),
    last_updated  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (router, state, action)
);
