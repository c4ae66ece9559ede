"""Per-request and per-job log context: the request id and the job id, as context variables.

Context variables (not thread-locals) so gunicorn's gthread workers, RQ's forked work horses and
the standalone mode's worker thread each see their own ids. :class:`ContextFilter` copies them
onto every log record, whichever handler formats it.
"""

from __future__ import annotations

import contextlib
import logging
import re
import uuid
from collections.abc import Iterator
from contextvars import ContextVar

REQUEST_ID_HEADER = "X-Request-ID"
# A caller-supplied id is kept only if it is short and plain, so it cannot forge log lines.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

request_id_var: ContextVar[str | None] = ContextVar("msp_request_id", default=None)
job_id_var: ContextVar[str | None] = ContextVar("msp_job_id", default=None)


def new_request_id(supplied: str | None) -> str:
    """The caller's ``X-Request-ID`` when it is well formed, otherwise a fresh one."""
    if supplied and _VALID_REQUEST_ID.match(supplied):
        return supplied
    return uuid.uuid4().hex


@contextlib.contextmanager
def job_logging(job_id: str) -> Iterator[None]:
    """Tag every log line written inside the block with ``job_id``."""
    token = job_id_var.set(job_id or None)
    try:
        yield
    finally:
        job_id_var.reset(token)


class ContextFilter(logging.Filter):
    """Adds ``request_id`` and ``job_id`` attributes (``None`` outside a request or job)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.job_id = job_id_var.get()
        return True
