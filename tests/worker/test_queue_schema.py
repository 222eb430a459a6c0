"""pgqueuer's tables are part of our migrations, pinned to the installed pgqueuer's DDL: when
an upgrade of pgqueuer changes what its installer creates, this fails until a new migration
brings the schema along (and the pin in pyproject.toml moves)."""

from __future__ import annotations

from importlib import resources

from pgqueuer.adapters.persistence.qb import QueryBuilderEnvironment

from nodes.storage.sql_job_queue import QUEUE_SETTINGS

BEGIN, END = "-- BEGIN pgqueuer install\n", "-- END pgqueuer install\n"


def test_checked_in_ddl_is_what_the_installed_pgqueuer_creates() -> None:
    migration = (
        resources.files("nodes.storage.migrations")
        .joinpath("0006_schedules_and_job_queue.sql")
        .read_text(encoding="utf-8")
    )
    checked_in = migration[migration.index(BEGIN) + len(BEGIN) : migration.index(END)]
    installed = QueryBuilderEnvironment(QUEUE_SETTINGS).build_install_query()
    assert checked_in.strip() == installed.strip()
