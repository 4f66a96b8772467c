"""Routes that only read run without a transaction.

Otherwise a request's first statement costs a BEGIN and its end a ROLLBACK: two round
trips that a read gains nothing from, since under READ COMMITTED each statement sees
its own snapshot either way. The session of a view marked `@reads_only` binds to an
autocommit view of its engine (same pool), and only when it first needs a connection:
an answer from the cache takes none. An INSERT, UPDATE or DELETE on such a connection
is refused (a write there would lose the all-or-nothing a transaction gives) unless the
statement says it stands alone (`standalone_write`), as one-statement bookkeeping may.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

from flask import Flask, current_app, request
from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.dml import UpdateBase

F = TypeVar("F", bound=Callable[..., Any])
_MARK = "_reads_only"
_OPTION = "reads_only"
STANDALONE_WRITE = "standalone_write"


class WriteInReadOnlyRequest(RuntimeError):
    """A route marked @reads_only tried to change data: mark it no more, or move the write."""


def reads_only(view: F) -> F:
    """Mark a view that reads and never writes (put it under the route's other decorators:
    they copy the mark onto what they wrap)."""
    setattr(view, _MARK, True)
    return view


class Session(FlaskSession):
    """`db.session`'s class: in a read-only request it binds to its engine's autocommit view."""

    def get_bind(self, *args: Any, **kwargs: Any) -> Any:
        bind = super().get_bind(*args, **kwargs)
        if self.info.get(_OPTION) and isinstance(bind, Engine):
            return _autocommit(bind)
        return bind


@cache
def _autocommit(engine: Engine) -> Engine:
    return engine.execution_options(isolation_level="AUTOCOMMIT", **{_OPTION: True})


def init_app(app: Flask, db: Any) -> None:
    @app.before_request
    def _autocommit_reads() -> None:
        view = current_app.view_functions.get(request.endpoint or "")
        if getattr(view, _MARK, False):
            db.session.info[_OPTION] = True


@event.listens_for(Engine, "before_execute")
def _refuse_writes(conn: Connection, clause: Any, _multi: Any, _params: Any, options: Any) -> None:
    if (
        isinstance(clause, UpdateBase)
        and conn.get_execution_options().get(_OPTION)
        and not {**clause.get_execution_options(), **options}.get(STANDALONE_WRITE)
    ):
        raise WriteInReadOnlyRequest(f"{request.endpoint} is marked @reads_only but wrote: {clause}")
