"""Runs: a stored `allow_download: false` becomes "follow the server" (the key removed).

Revision ID: 0014
Revises: 0013_h15
Create Date: 2026-12-05 18:40:00

Until 0014 a config's `allow_download` was a bool defaulting to false, and false meant "follow
the server's setting" (only true changed anything: it overrode an admin who had turned downloads
off). Now the admin always wins, `null` follows the server and `false` turns downloads off for
that run. Every run stored before carries the old default `false`, which would now read as
"never download": a clone of such a run with ImageNet weights not on disk would be refused.
Removing the key keeps what those runs meant. Data only; nothing to undo on downgrade.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013_h15"
branch_labels = None
depends_on = None

RUNS = sa.table("runs", sa.column("id", sa.Integer), sa.column("config", sa.JSON))


def upgrade() -> None:
    connection = op.get_bind()
    # A text prefilter keeps a large table's scan in the database; the JSON check decides.
    candidates = connection.execute(
        sa.select(RUNS.c.id, RUNS.c.config).where(sa.cast(RUNS.c.config, sa.Text).like('%"allow\\_download"%', escape="\\"))
    )
    changed = [
        {"run_id": run_id, "config": {k: v for k, v in config.items() if k != "allow_download"}}
        for run_id, config in candidates
        if isinstance(config, dict) and config.get("allow_download") is False
    ]
    if changed:
        connection.execute(
            RUNS.update().where(RUNS.c.id == sa.bindparam("run_id")).values(config=sa.bindparam("config")), changed
        )


def downgrade() -> None:
    pass  # which of those runs said false on purpose is not known; "follow the server" is what they meant
