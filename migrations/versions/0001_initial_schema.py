"""Initial schema: runs, epoch_metrics, artifacts, datasets, workers.

Revision ID: 0001
Revises:
Create Date: 2026-11-27 18:50:25.130163
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# Timezone-aware; app.db.types.UtcDateTime adds the SQLite handling in Python.
TIMESTAMP = sa.DateTime(timezone=True)

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('datasets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('path', sa.String(length=1024), nullable=False),
    sa.Column('num_classes', sa.Integer(), nullable=True),
    sa.Column('num_images', sa.Integer(), nullable=True),
    sa.Column('scanned_at', TIMESTAMP, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_datasets')),
    sa.UniqueConstraint('name', 'path', name=op.f('uq_datasets_name_path'))
    )
    op.create_table('runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('queue', sa.String(length=64), nullable=False),
    sa.Column('config', sa.JSON(), nullable=False),
    sa.Column('dataset', sa.String(length=64), nullable=False),
    sa.Column('backbone', sa.String(length=64), nullable=False),
    sa.Column('epochs', sa.Integer(), nullable=False),
    sa.Column('cloned_from', sa.Integer(), nullable=True),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.Column('started_at', TIMESTAMP, nullable=True),
    sa.Column('finished_at', TIMESTAMP, nullable=True),
    sa.Column('heartbeat_at', TIMESTAMP, nullable=True),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('worker_host', sa.String(length=255), nullable=True),
    sa.Column('worker_pid', sa.Integer(), nullable=True),
    sa.Column('gpu', sa.String(length=255), nullable=True),
    sa.Column('cancel_requested', sa.Boolean(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('summary', sa.JSON(), nullable=True),
    sa.Column('epochs_done', sa.Integer(), nullable=False),
    sa.Column('best_val_acc', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['cloned_from'], ['runs.id'], name=op.f('fk_runs_cloned_from_runs'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_runs')),
    sqlite_autoincrement=True
    )
    # What the run list filters and sorts on (fast with 10,000+ runs).
    op.create_index('ix_runs_backbone_created', 'runs', ['backbone', 'created_at'])
    op.create_index('ix_runs_best_val_acc', 'runs', ['best_val_acc'])
    op.create_index('ix_runs_created', 'runs', ['created_at'])
    op.create_index('ix_runs_dataset_created', 'runs', ['dataset', 'created_at'])
    op.create_index('ix_runs_status_created', 'runs', ['status', 'created_at'])

    op.create_table('workers',
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('queues', sa.String(length=1024), nullable=False),
    sa.Column('gpu', sa.String(length=255), nullable=True),
    sa.Column('started_at', TIMESTAMP, nullable=False),
    sa.Column('last_seen', TIMESTAMP, nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_workers'))
    )
    op.create_table('artifacts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('path', sa.String(length=1024), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], name=op.f('fk_artifacts_run_id_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_artifacts')),
    sa.UniqueConstraint('run_id', 'kind', name=op.f('uq_artifacts_run_id_kind'))
    )
    op.create_table('epoch_metrics',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('epoch', sa.Integer(), nullable=False),
    sa.Column('train_loss', sa.Float(), nullable=False),
    sa.Column('train_acc', sa.Float(), nullable=False),
    sa.Column('val_loss', sa.Float(), nullable=True),
    sa.Column('val_acc', sa.Float(), nullable=True),
    sa.Column('test_loss', sa.Float(), nullable=True),
    sa.Column('test_acc', sa.Float(), nullable=True),
    sa.Column('lr', sa.JSON(), nullable=False),
    sa.Column('images_per_s', sa.Float(), nullable=False),
    sa.Column('seconds', sa.Float(), nullable=False),
    sa.Column('recorded_at', TIMESTAMP, nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], name=op.f('fk_epoch_metrics_run_id_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_epoch_metrics')),
    sa.UniqueConstraint('run_id', 'epoch', name=op.f('uq_epoch_metrics_run_id_epoch'))
    )


def downgrade() -> None:
    op.drop_table('epoch_metrics')
    op.drop_table('artifacts')
    op.drop_table('workers')
    for index in ('ix_runs_status_created', 'ix_runs_dataset_created', 'ix_runs_created',
                  'ix_runs_best_val_acc', 'ix_runs_backbone_created'):
        op.drop_index(index, table_name='runs')
    op.drop_table('runs')
    op.drop_table('datasets')
