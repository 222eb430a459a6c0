"""Contracts of learned routing: policy settings, contexts, decisions, per-variant statistics,
the batched flush of a ``LearningEngine`` and the Q-learning router's tasks and updates.

A routing *domain* is one decision point (say ``"summarize"``: which model serves it); its
*arms* are the candidates handed to ``select_model``. Under the experiment harness each domain
runs several policies side by side as *variants*; otherwise it runs one, named after itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts.enum_routing import EnumRewardKind, EnumRoutingPolicy
from contracts.model_reward import ModelRewardExecution

_FROZEN = ConfigDict(extra="forbid", frozen=True)

Finite = Annotated[float, Field(allow_inf_nan=False)]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Unit = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Name = Annotated[str, Field(min_length=1, max_length=200)]


class ModelBanditSettings(BaseModel):
    """The policies' parameters. The defaults are the textbook ones: epsilon 0.1 (10 %
    exploration), UCB1's bonus ``sqrt(2 ln N / n)``, a uniform Beta(1, 1) prior."""

    model_config = _FROZEN

    epsilon: Unit = 0.1
    ucb_alpha: Positive = Field(default=1.0, description="scale of UCB1's exploration bonus")
    reward_kind: EnumRewardKind = EnumRewardKind.BINARY
    beta_prior: tuple[Positive, Positive] = Field(
        default=(1.0, 1.0), description="Thompson (binary): Beta(alpha, beta) before any pull"
    )
    gaussian_prior: tuple[Finite, Positive] = Field(
        default=(0.5, 1.0), description="Thompson (continuous): prior mean and sd of an arm"
    )
    noise_sd: Positive = Field(
        default=0.5, description="Thompson (continuous): known sd of one reward around its mean"
    )
    lints_lambda: Positive = Field(default=1.0, description="LinTS: ridge prior precision")
    lints_v: Positive = Field(default=0.5, description="LinTS: posterior sd scale")
    propensity_draws: int = Field(
        default=256,
        ge=0,
        le=100_000,
        description="Thompson and LinTS: posterior draws that estimate a decision's propensity "
        "(0: not estimated, for simulations only)",
    )


class ModelLearningSettings(BaseModel):
    """How a ``LearningEngine`` runs. ``None`` for a flag means: read the environment variable
    of the same name (``1``, ``true``, ``yes`` or ``on`` turn it on)."""

    model_config = _FROZEN

    default_policy: EnumRoutingPolicy = EnumRoutingPolicy.EPSILON_GREEDY
    policies: dict[Name, EnumRoutingPolicy] = Field(
        default_factory=dict, description="domain -> policy, for domains not on the default"
    )
    bandit: ModelBanditSettings = Field(default_factory=ModelBanditSettings)
    flush_interval_s: Positive = Field(
        default=1.0, description="buffered statistics and decisions are written this often"
    )
    refresh_interval_s: Positive = Field(
        default=1.0, description="other processes' statistics are read this often"
    )
    enable_experiment_harness: bool | None = None
    enable_rl_lints: bool | None = None
    seed: int | None = Field(default=None, description="the engine's random generator seed")
    max_pending_outcomes: int = Field(
        default=10_000,
        ge=1,
        description="per arm: decisions remembered until their outcome attributes them",
    )


class ModelRoutingContext(BaseModel):
    """What a contextual policy (LinTS) sees of a request: a feature vector."""

    model_config = _FROZEN

    features: tuple[Finite, ...] = Field(min_length=1, max_length=1024)


class ModelArmState(BaseModel):
    """One arm's sufficient statistics, as a policy and the database keep them. For LinTS the
    sums over its pulls of each feature squared and of reward times feature."""

    model_config = _FROZEN

    arm: Name
    pulls: float = Field(ge=0, allow_inf_nan=False)
    reward_sum: Finite = 0.0
    lints_a: tuple[Finite, ...] = ()
    lints_b: tuple[Finite, ...] = ()


class ModelBanditSelectInput(BaseModel):
    """One decision: which of ``arms`` the policy serves next."""

    model_config = _FROZEN

    policy: EnumRoutingPolicy
    arms: list[ModelArmState] = Field(min_length=1)
    context: ModelRoutingContext | None = None
    settings: ModelBanditSettings = Field(default_factory=ModelBanditSettings)


class ModelBanditChoice(BaseModel):
    """The chosen arm and the probability the policy gave it (its propensity)."""

    model_config = _FROZEN

    arm: Name
    propensity: float = Field(ge=0, le=1, description="NaN when not estimated")


def decision_id(writer_id: UUID, number: int) -> str:
    """A decision's id, as 32 hex digits: the writer's high 64 bits, then the decision's number
    in that writer (unique without coordination; cheap to make for every decision)."""
    return f"{writer_id.int >> 64:016x}{number:016x}"


class ModelRoutingDecision(BaseModel):
    """One logged decision. ``propensity`` is the probability the deciding policy gave the
    arm; ``policy_share`` the probability that policy was the one deciding (1 without the
    experiment harness), so the logging probability is their product."""

    model_config = _FROZEN

    decision_id: UUID
    domain: Name
    policy: str
    arm: Name
    propensity: float
    policy_share: Unit = 1.0
    context: ModelRoutingContext | None = None
    decided_at: AwareDatetime


class ModelVariantStats(BaseModel):
    """Per-variant statistics of one arm. ``regret_sum`` adds, at each recorded outcome, the
    best arm's posterior mean minus this arm's, both just before the outcome is applied."""

    model_config = _FROZEN

    policy: str
    arm: str
    pulls: int = Field(ge=0)
    reward_sum: float
    mean_reward: float | None = Field(description="reward_sum / pulls; None without pulls")
    regret_sum: float
    updated_at: datetime


class ModelRoutingStats(BaseModel):
    """A domain as every process sees it after the next refresh."""

    model_config = _FROZEN

    domain: str
    policy: EnumRoutingPolicy
    frozen: bool
    frozen_arm: str | None
    epoch: int = Field(ge=0, description="incremented by every reset")
    decisions: int = Field(ge=0, description="decisions logged in this domain (all epochs)")
    variants: list[ModelVariantStats]


class ModelRoutingDomainState(BaseModel):
    """A domain as stored: its settings and every variant's arm states."""

    model_config = _FROZEN

    domain: str
    policy: EnumRoutingPolicy
    frozen: bool
    frozen_arm: str | None
    epoch: int = Field(ge=0)
    variants: dict[str, list[ModelArmState]] = Field(default_factory=dict)


class ModelArmDeltas(BaseModel):
    """What one process learned per arm since its last flush, column by column (a flush can
    carry thousands of arms): row i is arm ``arms[i]`` of ``policies[i]`` in ``domains[i]``,
    learned under ``epochs[i]``. LinTS rows also carry their per-feature sums, in ``lints``
    under their row number (sparse: the other rows allocate nothing)."""

    model_config = _FROZEN

    domains: list[str] = Field(default_factory=list)
    epochs: list[int] = Field(default_factory=list)
    policies: list[str] = Field(default_factory=list)
    arms: list[str] = Field(default_factory=list)
    pulls: list[int] = Field(default_factory=list)
    reward_sums: list[float] = Field(default_factory=list)
    regret_sums: list[float] = Field(default_factory=list)
    lints: dict[int, tuple[list[float], list[float]]] = Field(
        default_factory=dict, description="row -> (sums of x^2, sums of reward * x) per feature"
    )


class ModelDecisionLog(BaseModel):
    """Decisions to log, column by column (a flush carries tens of thousands)."""

    model_config = _FROZEN

    numbers: list[int] = Field(
        default_factory=list, description="the writer's decision numbers (``decision_id``)"
    )
    domains: list[str] = Field(default_factory=list)
    policies: list[str] = Field(default_factory=list)
    arms: list[str] = Field(default_factory=list)
    propensities: list[float] = Field(default_factory=list)
    policy_shares: list[float] = Field(default_factory=list)
    contexts: list[list[float] | None] = Field(default_factory=list)
    decided_at: list[datetime] = Field(default_factory=list)


class ModelRoutingFlush(BaseModel):
    """One batch of one writer: written in one transaction, at most once (``writer_id``,
    ``seq`` is recorded with it, so a retry after an unknown outcome is recognised)."""

    model_config = _FROZEN

    writer_id: UUID
    seq: int = Field(ge=0)
    domains: dict[str, EnumRoutingPolicy] = Field(
        default_factory=dict, description="domains to create if new, with their policy"
    )
    deltas: ModelArmDeltas = Field(default_factory=ModelArmDeltas)
    decisions: ModelDecisionLog = Field(default_factory=ModelDecisionLog)


class ModelRoutingFlushed(BaseModel):
    model_config = _FROZEN

    seq: int
    committed: bool = Field(description="False: this batch had already been committed")
    deltas: int = Field(ge=0, description="arm deltas applied")
    stale: int = Field(ge=0, description="deltas dropped: learned before a reset")
    decisions: int = Field(ge=0)


class ModelRoutingTask(BaseModel):
    """A task as the Q-learning router sees it (``QLearningRouter.get_state``)."""

    model_config = _FROZEN

    task_type: Name
    complexity: Unit = Field(description="0 trivial .. 1 hardest")
    size: int = Field(ge=0, description="e.g. estimated tokens or files")
    recent_success_rate: Unit | None = Field(
        default=None, description="of this task type lately; None when unknown"
    )


class ModelQUpdateInput(BaseModel):
    """One temporal-difference step: ``q + lr * (reward + discount * next_max - q)``."""

    model_config = _FROZEN

    q_value: Finite
    reward: Finite
    next_max: Finite = Field(description="max over actions of Q(next state); 0 when terminal")
    learning_rate: Unit = 0.1
    discount_factor: Unit = 0.9


class ModelQUpdate(BaseModel):
    model_config = _FROZEN

    q_value: Finite
    td_error: Finite


class ModelRoutedExecution(BaseModel):
    """An execution the router chose: the task, the action taken, what happened, and the task
    that followed (None: the episode ended here)."""

    model_config = _FROZEN

    task: ModelRoutingTask
    action: Name
    execution: ModelRewardExecution
    next_task: ModelRoutingTask | None = None


class ModelRoutingFeedback(BaseModel):
    """A caller's judgement of an execution; its ``reward`` replaces the composite reward."""

    model_config = _FROZEN

    reward: Finite


class ModelQEntry(BaseModel):
    """One Q-table row."""

    model_config = _FROZEN

    state: Name
    action: Name
    q_value: Finite
    update_count: int = Field(ge=0)


class ModelQTableWrite(BaseModel):
    """Q-values to store for one router (absolute values; update counts add up)."""

    model_config = _FROZEN

    router: Name
    entries: list[ModelQEntry]


class ModelQTableWritten(BaseModel):
    model_config = _FROZEN

    rows: int = Field(ge=0)
