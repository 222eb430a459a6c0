"""Contract of walking the lineage in SQL: ancestors or descendants without loading the graph."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from contracts.enum_lineage_relation import EnumLineageRelation

_FROZEN = ConfigDict(extra="forbid", frozen=True)


class ModelLineageWalkInput(BaseModel):
    model_config = _FROZEN

    version_id: str = Field(min_length=1)
    up: bool = Field(description="True: ancestors; False: descendants")
    relations: tuple[EnumLineageRelation, ...] | None = Field(
        default=None, description="follow only these relations (None: all)"
    )
    max_depth: int | None = Field(default=None, ge=0)


class ModelLineageWalkOutput(BaseModel):
    model_config = _FROZEN

    version_ids: frozenset[str]
