"""Jobs for the job tests: importable by a `flask worker` process started by a test."""

from __future__ import annotations

import time
import uuid

from service.extensions import db
from service.localpay.models import LocalObject


def record(marker: str, seconds: float = 0) -> None:
    """Leave one row of kind `job:<marker>` (a fresh id each run, so a second run would
    show), then take `seconds`: the row commits with the job's completion or not at all."""
    db.session.add(LocalObject(id=f"run_{uuid.uuid4().hex}", kind=f"job:{marker}", data={}))
    db.session.flush()
    time.sleep(seconds)


def fail(marker: str) -> None:
    record(marker)
    raise RuntimeError(f"{marker} failed")
