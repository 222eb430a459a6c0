"""``feedback-loop routing stats|reset|freeze|unfreeze DOMAIN``: look at and steer the learned
routing of a domain that ``LearningEngine`` processes share."""

from __future__ import annotations

import argparse
from typing import Any

from pydantic import TypeAdapter

from contracts.model_routing import ModelRoutingStats, Name
from lineage.export import text_table
from nodes.adapters.cli.arg_types import OptionValue
from nodes.adapters.cli.context import CliContext
from nodes.service.learning_engine import LearningEngine

DOMAIN = OptionValue(TypeAdapter(Name).validate_python, "a domain name of 1 to 200 characters")

_DESCRIPTION = """\
A routing domain is one decision point of LearningEngine (which model serves a request); its
statistics are shared in PostgreSQL by every process that routes in it. Processes write what
they learn every flush interval and read what others wrote every refresh interval (both 1 s
by default), so a change made here reaches them within about one refresh interval.
"""

_ACTIONS = {
    "stats": "per policy and arm: pulls, reward sum, mean reward, regret sum",
    "reset": "forget what every process learned (decisions stay logged; a freeze stays)",
    "freeze": "stop learning and serve the arm with the best posterior mean (kill switch)",
    "unfreeze": "learn and explore again",
}


def register(commands: Any) -> None:
    cmd = commands.add_parser(
        "routing",
        help="learned routing: statistics, reset and freeze of a domain",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = cmd.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, text in _ACTIONS.items():
        action = actions.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        action.add_argument(
            "domain", type=DOMAIN, metavar="DOMAIN", help="the domain, as select_model names it"
        )
        if name == "stats":
            action.add_argument("--json", action="store_true", help="print JSON")
        action.set_defaults(handler=_run)


def _table(stats: ModelRoutingStats) -> str:
    state = (
        f"frozen on {stats.frozen_arm or '(no arm learned yet)'}" if stats.frozen else "learning"
    )
    header = (
        f"{stats.domain}: policy {stats.policy.value}, {state}, epoch {stats.epoch}, "
        f"{stats.decisions:,} decisions logged\n"
    )
    rows = [["POLICY", "ARM", "PULLS", "REWARD SUM", "MEAN REWARD", "REGRET SUM"]]
    rows += [
        [
            v.policy,
            v.arm,
            f"{v.pulls:,}",
            f"{v.reward_sum:.4g}",
            "-" if v.mean_reward is None else f"{v.mean_reward:.4f}",
            f"{v.regret_sum:.4g}",
        ]
        for v in stats.variants
    ]
    return header + text_table(rows)


async def _run(args: argparse.Namespace, ctx: CliContext) -> int:
    engine = LearningEngine(ctx.service().runtime)
    domain = args.domain
    stats = await engine.stats(domain)  # an unknown domain fails here, before any change
    if args.action == "stats":
        print(stats.model_dump_json(indent=2) if args.json else _table(stats), end="\n" * args.json)
    elif args.action == "reset":
        await engine.reset(domain)
        print(f"{domain}: reset, epoch {stats.epoch + 1}; every process starts over from cold")
    elif args.action == "freeze":
        arm = await engine.freeze(domain)
        print(f"{domain}: frozen on {arm or '(no arm learned yet: each process serves its best)'}")
    else:
        await engine.unfreeze(domain)
        print(f"{domain}: learning again")
    return 0
