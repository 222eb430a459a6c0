"""Which day partitions retention may drop, pure: past the horizon and not needed by a running
experiment. Whether a day's rows are all in its buckets is checked by the effect, in the
transaction that drops it."""

from __future__ import annotations

from contracts.model_retention import ModelRetentionInput, ModelRetentionPlan


class NodeRetentionPlanCompute:
    def plan(self, retention: ModelRetentionInput) -> ModelRetentionPlan:
        """A day ends at ``ends_at``: it may go once that is at or before the horizon, unless an
        experiment reads from before it ends."""
        drop, kept = [], []
        need = retention.experiments_need_from
        for partition in sorted(retention.partitions, key=lambda p: p.day):
            if partition.ends_at > retention.horizon:
                continue
            if need is not None and need < partition.ends_at:
                kept.append(partition.day)
            else:
                drop.append(partition.day)
        return ModelRetentionPlan(drop=tuple(drop), kept_for_experiments=tuple(kept))
