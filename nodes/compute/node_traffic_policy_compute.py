"""Traffic policy: the active version keeps ``1 - candidate_traffic``, candidates in testing
share the rest equally; with no candidate the active version takes it all. A previous version
watched after an apply first keeps its ``holdback`` share, the rest is split as above. Pure.

A fixed split, on purpose: the A/B tests assume the arms' shares do not move with the results
(adaptive allocation would bias them), and the sample-ratio check compares against it.
"""

from __future__ import annotations

from contracts.model_traffic_policy import ModelTrafficPolicyInput, ModelTrafficPolicyOutput


class NodeTrafficPolicyCompute:
    def compute(self, contract: ModelTrafficPolicyInput) -> ModelTrafficPolicyOutput:
        held = (
            {h: contract.holdback for h in contract.holdback_version_ids}
            if contract.holdback
            else {}
        )
        rest = 1.0 - sum(held.values())
        candidates = contract.testing_version_ids
        if not candidates:
            return ModelTrafficPolicyOutput(weights={contract.active_version_id: rest, **held})
        share = rest * contract.candidate_traffic / len(candidates)
        return ModelTrafficPolicyOutput(
            weights={
                contract.active_version_id: rest * (1.0 - contract.candidate_traffic),
                **{c: share for c in candidates},
                **held,
            }
        )
