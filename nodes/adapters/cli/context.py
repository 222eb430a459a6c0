"""What a CLI command needs: the service facade, opened on first use."""

from __future__ import annotations

from nodes.service import FeedbackLoopService


class CliContext:
    """Builds the service lazily, so ``--help`` and argument errors never touch the database."""

    def __init__(self, dsn: str | None) -> None:
        self.dsn = dsn
        self._service: FeedbackLoopService | None = None

    def service(self, *, pool_size: int = 10) -> FeedbackLoopService:
        if self._service is None:
            self._service = FeedbackLoopService(dsn=self.dsn, pool_size=pool_size)
        return self._service

    async def close(self) -> None:
        if self._service is not None:
            await self._service.close()
