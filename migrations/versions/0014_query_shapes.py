"""query shapes at real size: stored search vector, unread counters

Revision ID: 0014_query_shapes
Revises: 0013_member_counts
Create Date: 2026-12-01 13:00:00.000000

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql



# revision identifiers, used by Alembic.
revision = '0014_query_shapes'
down_revision = '0013_member_counts'
branch_labels = None
depends_on = None

# As service.creators.models.SEARCH_VECTOR says it at this revision.
SEARCH_VECTOR = (
    "setweight(to_tsvector('english'::regconfig, (handle::text || ' ' || display_name::text)), 'A')"
    " || setweight(to_tsvector('english'::regconfig, tags_text), 'B')"
    " || setweight(to_tsvector('english'::regconfig, purpose), 'C')"
    " || setweight(to_tsvector('english'::regconfig, bio), 'D')"
)
# SQLite has no full-text search here: discovery's fallback matches words in the same
# fields lower-cased. ALTER TABLE can only add a VIRTUAL generated column there.
SQLITE_SEARCH_TEXT = (
    "lower(handle || ' ' || display_name || ' ' || tags_text || ' ' || purpose || ' ' || bio)"
)


UNREAD = """
UPDATE conversation_members SET unread_count = (
    SELECT count(*) FROM messages m
    WHERE m.conversation_id = conversation_members.conversation_id
      AND (m.created_at, m.id) > (conversation_members.last_read_at, conversation_members.last_read_message_id)
      AND (m.sender_id IS NULL OR m.sender_id <> conversation_members.user_id)
)
"""


def upgrade():
    with op.batch_alter_table('conversation_members', schema=None) as batch_op:
        batch_op.add_column(sa.Column('unread_count', sa.Integer(), server_default='0', nullable=False))
    op.execute(UNREAD)
    if op.get_bind().dialect.name == "postgresql":
        # Replaces 0002's expression index: ranking then reads the stored vector.
        op.execute("DROP INDEX ix_creators_search")
        op.add_column('creators', sa.Column(
            'search_vector', postgresql.TSVECTOR(), sa.Computed(SEARCH_VECTOR, persisted=True), nullable=True
        ))
        op.create_index('ix_creators_search', 'creators', ['search_vector'], postgresql_using='gin')
    else:
        op.execute(
            f"ALTER TABLE creators ADD COLUMN search_vector TEXT GENERATED ALWAYS AS ({SQLITE_SEARCH_TEXT}) VIRTUAL"
        )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index('ix_creators_search', table_name='creators')
        op.drop_column('creators', 'search_vector')
        op.execute(
            "CREATE INDEX ix_creators_search ON creators USING gin ("
            "(setweight(to_tsvector('english', creators.handle || ' ' || creators.display_name), 'A')"
            " || setweight(to_tsvector('english', creators.tags_text), 'B')"
            " || setweight(to_tsvector('english', creators.purpose), 'C')"
            " || setweight(to_tsvector('english', creators.bio), 'D')))"
        )
    else:
        op.drop_column('creators', 'search_vector')
    with op.batch_alter_table('conversation_members', schema=None) as batch_op:
        batch_op.drop_column('unread_count')
