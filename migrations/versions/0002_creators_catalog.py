"""creators, follows, catalog

Revision ID: 0002_creators_catalog
Revises: 0001_accounts
Create Date: 2026-11-27 14:57:26.224310

"""
from alembic import op
import sqlalchemy as sa

# Full-text search for discovery (PostgreSQL only). The expression must match
# service.creators.discovery.SEARCH_VECTOR character for character.
SEARCH_VECTOR = (
    "(setweight(to_tsvector('english', creators.handle || ' ' || creators.display_name), 'A')"
    " || setweight(to_tsvector('english', creators.tags_text), 'B')"
    " || setweight(to_tsvector('english', creators.purpose), 'C')"
    " || setweight(to_tsvector('english', creators.bio), 'D'))"
)


# revision identifiers, used by Alembic.
revision = '0002_creators_catalog'
down_revision = '0001_accounts'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('creators',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('handle', sa.String(length=30), nullable=False),
    sa.Column('display_name', sa.String(length=100), nullable=False),
    sa.Column('bio', sa.Text(), nullable=False),
    sa.Column('purpose', sa.Text(), nullable=False),
    sa.Column('tags_text', sa.Text(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('dm_policy', sa.String(length=16), nullable=False),
    sa.Column('dm_tier_ids', sa.JSON(), nullable=False),
    sa.Column('follower_count', sa.Integer(), nullable=False),
    sa.Column('payouts_enabled', sa.Boolean(), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_creators_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_creators')),
    sa.UniqueConstraint('handle', name=op.f('uq_creators_handle')),
    sa.UniqueConstraint('user_id', name=op.f('uq_creators_user_id'))
    )
    with op.batch_alter_table('creators', schema=None) as batch_op:
        batch_op.create_index('ix_creators_follower_count_id', ['follower_count', 'id'], unique=False)

    op.create_table('creator_tags',
    sa.Column('creator_id', sa.Uuid(), nullable=False),
    sa.Column('tag', sa.String(length=30), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['creator_id'], ['creators.id'], name=op.f('fk_creator_tags_creator_id_creators'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('creator_id', 'tag', name=op.f('pk_creator_tags'))
    )
    with op.batch_alter_table('creator_tags', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_creator_tags_tag'), ['tag'], unique=False)

    op.create_table('follows',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('creator_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['creator_id'], ['creators.id'], name=op.f('fk_follows_creator_id_creators'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_follows_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_follows')),
    sa.UniqueConstraint('user_id', 'creator_id', name=op.f('uq_follows_user_id'))
    )
    with op.batch_alter_table('follows', schema=None) as batch_op:
        batch_op.create_index('ix_follows_creator_created', ['creator_id', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_follows_user_created', ['user_id', 'created_at', 'id'], unique=False)

    op.create_table('offerings',
    sa.Column('creator_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('title', sa.String(length=120), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('benefits', sa.JSON(), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=True),
    sa.Column('rank', sa.Integer(), nullable=False),
    sa.Column('delivery', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('membership', 'service', 'product')", name=op.f('ck_offerings_kind')),
    sa.CheckConstraint("status IN ('draft', 'published', 'archived')", name=op.f('ck_offerings_status')),
    sa.CheckConstraint('capacity IS NULL OR capacity > 0', name=op.f('ck_offerings_capacity_positive')),
    sa.ForeignKeyConstraint(['creator_id'], ['creators.id'], name=op.f('fk_offerings_creator_id_creators'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_offerings'))
    )
    with op.batch_alter_table('offerings', schema=None) as batch_op:
        batch_op.create_index('ix_offerings_creator_rank', ['creator_id', 'rank', 'created_at', 'id'], unique=False)

    op.create_table('prices',
    sa.Column('offering_id', sa.Uuid(), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('interval', sa.String(length=8), nullable=True),
    sa.Column('interval_count', sa.Integer(), nullable=True),
    sa.Column('trial_days', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("(type = 'one_time' AND interval IS NULL AND interval_count IS NULL) OR (type = 'recurring' AND interval IN ('month', 'year') AND interval_count >= 1)", name=op.f('ck_prices_recurrence')),
    sa.CheckConstraint("type IN ('one_time', 'recurring')", name=op.f('ck_prices_type')),
    sa.CheckConstraint('amount_minor > 0', name=op.f('ck_prices_amount_positive')),
    sa.ForeignKeyConstraint(['offering_id'], ['offerings.id'], name=op.f('fk_prices_offering_id_offerings'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prices'))
    )
    with op.batch_alter_table('prices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_prices_offering_id'), ['offering_id'], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE INDEX ix_creators_search ON creators USING gin ({SEARCH_VECTOR})")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_creators_search")
    with op.batch_alter_table('prices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_prices_offering_id'))

    op.drop_table('prices')
    with op.batch_alter_table('offerings', schema=None) as batch_op:
        batch_op.drop_index('ix_offerings_creator_rank')

    op.drop_table('offerings')
    with op.batch_alter_table('follows', schema=None) as batch_op:
        batch_op.drop_index('ix_follows_user_created')
        batch_op.drop_index('ix_follows_creator_created')

    op.drop_table('follows')
    with op.batch_alter_table('creator_tags', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_creator_tags_tag'))

    op.drop_table('creator_tags')
    with op.batch_alter_table('creators', schema=None) as batch_op:
        batch_op.drop_index('ix_creators_follower_count_id')

    op.drop_table('creators')
