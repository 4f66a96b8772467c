"""content: posts

Revision ID: 0005_content
Revises: 0004_billing
Create Date: 2026-11-27 15:28:19.537513

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005_content'
down_revision = '0004_billing'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('posts',
    sa.Column('creator_id', sa.Uuid(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('visibility', sa.String(length=16), nullable=False),
    sa.Column('tier_ids', sa.JSON(), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("visibility IN ('public', 'followers', 'members', 'tiers')", name=op.f('ck_posts_visibility')),
    sa.ForeignKeyConstraint(['creator_id'], ['creators.id'], name=op.f('fk_posts_creator_id_creators'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_posts'))
    )
    with op.batch_alter_table('posts', schema=None) as batch_op:
        batch_op.create_index('ix_posts_creator_created', ['creator_id', 'created_at', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('posts', schema=None) as batch_op:
        batch_op.drop_index('ix_posts_creator_created')

    op.drop_table('posts')
