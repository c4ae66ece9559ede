"""Log formatting: JSON lines (``MSP_LOG_FORMAT=json``) or readable text, both carrying the
request id and the job id, and the one root handler the app installs.

Configured from ``init_app`` (never at import). Re-running it replaces the handler it installed
before instead of stacking another, so tests may create many apps.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from msp.observability.context import ContextFilter

LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(context)s] %(message)s"
# LogRecord attributes that are not "extra" fields given by the caller.
_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "request_id",
    "job_id",
    "context",
    "taskName",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, ids, extras and the traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("request_id", "job_id"):
            value = getattr(record, key, None)
            if value:
                entry[key] = value
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """Plain lines with ``[req=... job=...]`` when the ids are known."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", None)
        job_id = getattr(record, "job_id", None)
        parts = [f"req={request_id}" if request_id else "", f"job={job_id}" if job_id else ""]
        record.context = " ".join(p for p in parts if p) or "-"
        return super().format(record)


def make_formatter(log_format: str) -> logging.Formatter:
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {LOG_FORMATS}, not {log_format!r}")
    return JsonFormatter() if log_format == "json" else TextFormatter()


class StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is at emit time (test runners swap it per test)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        """The stream is always the current ``sys.stderr``; assignments are ignored."""


def configure_logging(log_format: str, level: str) -> logging.Handler:
    """Install (or replace) the app's handler on the root logger."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, StderrHandler):
            root.removeHandler(handler)
    handler = StderrHandler()
    handler.setFormatter(make_formatter(log_format))
    handler.addFilter(ContextFilter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler


def gunicorn_logconfig(log_format: str, level: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for gunicorn's own loggers in the same format."""
    formatter = (
        "msp.observability.logs.JsonFormatter"
        if log_format == "json"
        else ("msp.observability.logs.TextFormatter")
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "msp.observability.context.ContextFilter"}},
        "formatters": {"msp": {"()": formatter}},
        "handlers": {
            "stderr": {
                "class": "msp.observability.logs.StderrHandler",
                "formatter": "msp",
                "filters": ["context"],
            }
        },
        "loggers": {
            "gunicorn.error": {"level": level.upper(), "handlers": ["stderr"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
        },
        "root": {"level": level.upper(), "handlers": ["stderr"]},
    }
