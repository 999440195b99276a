"""Alembic, applied at start. Each service has its own migrations folder and version table.

A service's `migrations/env.py` is two lines: import its metadata, call `run_env(metadata)`.
"""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa
from alembic import command, context
from alembic.config import Config
from sqlalchemy.engine import Connection

from baton_kit.db import create_engine


def alembic_config(*, database_url: str, script_location: str, version_table: str) -> Config:
    config = Config()
    config.set_main_option("script_location", script_location)
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["version_table"] = version_table
    return config


async def upgrade_to_head(*, database_url: str, script_location: str, version_table: str) -> None:
    """Apply every pending migration. Safe to call from several processes at once on PostgreSQL
    (an advisory lock serialises them) and on SQLite (the write lock does)."""
    config = alembic_config(database_url=database_url, script_location=script_location, version_table=version_table)
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                await connection.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:t))"), {"t": version_table})

            def _upgrade(sync_connection: Connection) -> None:
                config.attributes["connection"] = sync_connection
                command.upgrade(config, "head")

            await connection.run_sync(_upgrade)
    finally:
        await engine.dispose()


def run_env(target_metadata: sa.MetaData) -> None:
    """The body of a service's `env.py` (online mode, on the connection `upgrade_to_head` passes in)."""
    connection: Connection | None = context.config.attributes.get("connection")
    version_table: str = context.config.attributes.get("version_table", "alembic_version")
    if connection is None:  # the alembic CLI: open our own connection from the URL
        url = context.config.get_main_option("sqlalchemy.url") or ""
        asyncio.run(upgrade_via_cli(url, target_metadata, version_table))
        return
    _run_on(connection, target_metadata, version_table)


async def upgrade_via_cli(url: str, target_metadata: sa.MetaData, version_table: str) -> None:
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(_run_on, target_metadata, version_table)
    await engine.dispose()


def _run_on(connection: Connection, target_metadata: sa.MetaData, version_table: str) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table=version_table,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def create_kit_tables(op: Any) -> None:
    """Create the outbox and inbox tables (for a service's first migration). Frozen: never edit,
    add a new helper for a change."""
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(200), nullable=False, unique=True),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("key", sa.String(200), nullable=True),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    )
    _create_unsent_index(op)
    op.create_table(
        "inbox",
        sa.Column("event_id", sa.String(200), primary_key=True),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
    )


def outbox_deletes_sent_rows(op: Any) -> None:
    """The relay deletes a row once the broker has it (2026-11-30): drop `sent_at` and the index on
    unsent rows, and the rows already sent. Frozen, like `create_kit_tables`."""
    op.execute("DELETE FROM outbox WHERE sent_at IS NOT NULL")
    op.drop_index("ix_outbox_unsent", table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("sent_at")


def outbox_keeps_sent_rows(op: Any) -> None:
    """The downgrade of `outbox_deletes_sent_rows` (the rows already deleted stay gone). Frozen."""
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True))
    _create_unsent_index(op)


def _create_unsent_index(op: Any) -> None:
    op.create_index(
        "ix_outbox_unsent",
        "outbox",
        ["id"],
        postgresql_where=sa.text("sent_at IS NULL"),
        sqlite_where=sa.text("sent_at IS NULL"),
    )
