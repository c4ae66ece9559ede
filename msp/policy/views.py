"""Plain-data views of engine results (for the API, the CLI's ``--json`` and the timeline's
evidence): one shape per function, JSON-ready."""

from __future__ import annotations

from typing import Any

from msp.policy.drift import Drift
from msp.policy.engine import Evaluation
from msp.policy.facts import SenderStatus
from msp.policy.forwarding import ForwardedMail
from msp.policy.gates import GateResult
from msp.policy.records import StageRecords
from msp.policy.simulate import FORWARDED_KEY, Outcome, SimulationResult


def gate_view(gate: GateResult) -> dict[str, Any]:
    return {
        "gate": gate.gate,
        "status": gate.status.value,
        "reason": "; ".join(gate.reasons) if gate.reasons else "passed",
        "reasons": list(gate.reasons),
        "evidence": dict(gate.evidence),
    }


def records_view(records: StageRecords | None) -> list[dict[str, str]]:
    if records is None:
        return []
    return [
        {"name": r.name, "type": r.rtype, "value": r.value, "zone_line": r.zone_line()}
        for r in records.records
    ]


def evaluation_view(evaluation: Evaluation) -> dict[str, Any]:
    return {
        "stage": evaluation.stage.value,
        "record": evaluation.records.dmarc.text() if evaluation.records else None,
        "records": records_view(evaluation.records),
        "next_stage": evaluation.next_stage.value if evaluation.next_stage else None,
        "next_record": evaluation.next_records.dmarc.text() if evaluation.next_records else None,
        "next_records": records_view(evaluation.next_records),
        "gates": [gate_view(g) for g in evaluation.gates],
        "readiness": evaluation.readiness,
        "ready": evaluation.ready,
        "action": evaluation.action.value,
        "target": evaluation.target.value if evaluation.target else None,
        "auto": evaluation.auto,
        "reasons": list(evaluation.reasons),
        "dns_unreachable": list(evaluation.unreachable),
        "forwarded": forwarded_view(evaluation.forwarded),
        "drift": drift_view(evaluation.drift),
    }


def drift_view(found: Drift | None) -> dict[str, Any] | None:
    """The published record's drift from the stage, with the records that fix it."""
    if found is None:
        return None
    return {"reasons": list(found.reasons), "fix": records_view(found.fix)}


def forwarded_view(mail: ForwardedMail | None) -> dict[str, Any] | None:
    """Forwarded and list mail as one line (kept out of the blocking gates)."""
    if mail is None:
        return None
    return {
        "sources": mail.sources,
        "messages": mail.messages,
        "failing": mail.failing,
        "examples": list(mail.examples),
        "summary": f"forwarded mail: {mail.messages:,} messages from {mail.sources} sources "
        f"({mail.failing:,} fail DMARC, as forwarding does; not counted against escalation)",
    }


def _outcome(outcome: Outcome) -> dict[str, int]:
    return {"quarantined": outcome.quarantined, "rejected": outcome.rejected}


GROUPS = {
    "approved": (SenderStatus.APPROVED,),
    "unknown": (SenderStatus.UNKNOWN,),
    "forwarder_or_abuse": (SenderStatus.FORWARDER, SenderStatus.ABUSE),
}


def simulation_view(result: SimulationResult, record: str) -> dict[str, Any]:
    return {
        "record": record,
        "days": result.days,
        "strict_alignment_estimated": result.strict_alignment_estimated,
        "totals": {
            **{name: _outcome(result.group(statuses)) for name, statuses in GROUPS.items()},
            "forwarded": _outcome(result.forwarded()),
        },
        "senders": [
            {
                "sender": s.sender_key,
                "name": s.name,
                "status": "forwarded" if s.sender_key == FORWARDED_KEY else s.status.value,
                "sources": s.sources,
                "messages": s.messages,
                "failing": s.failing,
                "rfc9989": _outcome(s.rfc9989),
                "rfc7489": _outcome(s.rfc7489),
                "worst": _outcome(s.worst),
            }
            for s in result.senders
        ],
    }
