"""Routes that only read run without a transaction.

Otherwise a request's first statement costs a BEGIN and its end a ROLLBACK: two round
trips that a read gains nothing from, since under READ COMMITTED each statement sees
its own snapshot either way. A view marked `@reads_only` gets a session whose
connection is in autocommit mode; an INSERT, UPDATE or DELETE on that connection is
refused (a write there would lose the all-or-nothing a transaction gives) unless the
statement says it stands alone (`standalone_write`), as one-statement bookkeeping may.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app, request
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


def init_app(app: Flask, db: Any) -> None:
    @app.before_request
    def _autocommit_reads() -> None:
        view = current_app.view_functions.get(request.endpoint or "")
        if getattr(view, _MARK, False):
            db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT", _OPTION: True})


@event.listens_for(Engine, "before_execute")
def _refuse_writes(conn: Connection, clause: Any, _multi: Any, _params: Any, options: Any) -> None:
    if (
        isinstance(clause, UpdateBase)
        and conn.get_execution_options().get(_OPTION)
        and not {**clause.get_execution_options(), **options}.get(STANDALONE_WRITE)
    ):
        raise WriteInReadOnlyRequest(f"{request.endpoint} is marked @reads_only but wrote: {clause}")
