"""Database access for effect nodes: DSN handling, the embedded server, the pool, migrations."""

from nodes.storage.dsn import DSN_ENV_VAR, describe_dsn, redact_dsn, resolve_dsn
from nodes.storage.embedded import EmbeddedPostgres, default_data_dir
from nodes.storage.migrate import Migration, MigrationStatus, load_migrations, status, upgrade
from nodes.storage.pool import create_pool, open_pool

__all__ = [
    "DSN_ENV_VAR",
    "EmbeddedPostgres",
    "Migration",
    "MigrationStatus",
    "create_pool",
    "default_data_dir",
    "describe_dsn",
    "load_migrations",
    "open_pool",
    "redact_dsn",
    "resolve_dsn",
    "status",
    "upgrade",
]
