"""rules: services and products are sold at one-time prices only

Revision ID: 0015_rules
Revises: 0012_security
Create Date: 2026-12-01 13:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015_rules'
down_revision = '0012_security'
branch_labels = None
depends_on = None


def upgrade():
    # A recurring price on a service or product took money every period and delivered
    # nothing; the catalog refuses new ones, and these stop being sold. A published
    # offering left with no active price cannot be bought until its creator adds one.
    op.execute(sa.text(
        "UPDATE prices SET active = false, archived_at = COALESCE(archived_at, CURRENT_TIMESTAMP)"
        " WHERE type = 'recurring' AND active"
        " AND offering_id IN (SELECT id FROM offerings WHERE kind <> 'membership')"
    ))


def downgrade():
    # Which prices were archived here is not recorded; they stay archived.
    pass
