"""The base of every object built on a ``FeedbackLoopRuntime``: the service facade, the
learning engine, the Q-learning router."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

from nodes.runtime.runtime import FeedbackLoopRuntime


class RuntimeClient:
    """Built on the runtime handed in (shared, left open) or on one of its own made from
    ``runtime_options`` (pool, dsn, pool_size, ...), closed with it. ``async with`` closes."""

    def __init__(self, runtime: FeedbackLoopRuntime | None = None, **runtime_options: Any) -> None:
        self._owns_runtime = runtime is None
        self.runtime = runtime or FeedbackLoopRuntime(**runtime_options)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owns_runtime:
            await self.runtime.close()
