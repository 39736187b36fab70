"""Datasets: who uploaded each one (null for folders an admin placed under the data root).

Revision ID: 0008
Revises: 0002
Create Date: 2026-12-05 13:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("datasets") as batch:
        batch.add_column(sa.Column("owner_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(op.f("fk_datasets_owner_id_users"), "users", ["owner_id"], ["id"], ondelete="SET NULL")


def downgrade() -> None:
    with op.batch_alter_table("datasets") as batch:
        batch.drop_constraint(op.f("fk_datasets_owner_id_users"), type_="foreignkey")
        batch.drop_column("owner_id")
