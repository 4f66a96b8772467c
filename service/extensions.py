"""Extension instances, bound to an app only inside create_app()."""

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

from .common.db import Base
from .common.http import Api
from .common.reads import Session

db = SQLAlchemy(model_class=Base, session_options={"class_": Session})
# Batch mode lets Alembic alter tables on SQLite as well.
migrate = Migrate(render_as_batch=True, compare_type=True)
api = Api()
limiter = Limiter(key_func=get_remote_address, default_limits=[])
