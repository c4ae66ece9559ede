"""``/api/v1/system``: the job queues as RQ sees them (MSP admins), in either run mode."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint
from marshmallow import Schema, fields

from msp.auth.decorators import require_msp_admin
from msp.queues import ALL_QUEUES, dispatcher

blp = Blueprint("system", __name__, url_prefix="/api/v1/system", description="System")


class QueueStateSchema(Schema):
    name = fields.String()
    queued = fields.Integer()
    started = fields.Integer()
    scheduled = fields.Integer()
    finished = fields.Integer()
    failed = fields.Integer()


class JobsSchema(Schema):
    mode = fields.String(metadata={"description": "redis or in-process"})
    queues = fields.List(fields.Nested(QueueStateSchema))


@blp.get("/jobs")
@require_msp_admin
@blp.response(200, JobsSchema)
def jobs() -> Any:
    """Queue depths and job registries per queue."""
    from flask import current_app

    sender = dispatcher()
    states = []
    for name in ALL_QUEUES:
        queue = sender.queue(name)
        states.append(
            {
                "name": name,
                "queued": queue.count,
                "started": queue.started_job_registry.count,
                "scheduled": queue.scheduled_job_registry.count,
                "finished": queue.finished_job_registry.count,
                "failed": queue.failed_job_registry.count,
            }
        )
    mode = "redis" if current_app.config["MSP_REDIS_URL"] else "in-process"
    return {"mode": mode, "queues": states}
