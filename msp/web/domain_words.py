"""Plain words for the codes the domain page shows (stages, gates, change states), so a
service-desk technician reads a sentence and sees the code beside it, never the code alone."""

from __future__ import annotations

from msp.policy.stages import ROAD

STAGES = {
    "none": "No DMARC record",
    "monitor": "Monitoring only (p=none)",
    "quarantine_test": "Quarantine, test mode (p=quarantine; t=y)",
    "quarantine": "Quarantine (p=quarantine)",
    "reject_test": "Reject, test mode (p=reject; t=y)",
    "reject": "Reject (p=reject): fully protected",
    "parked": "Parked: locked down, sends no mail",
    "not planned": "Not evaluated yet",
}
ROAD_STAGES = tuple(stage.value for stage in ROAD)
GATES = {
    "soak": "Time spent at this stage",
    "coverage": "Enough reports received",
    "aligned_share": "Approved mail passes DMARC",
    "senders": "No unknown senders of note",
    "new_senders": "No new senders lately",
    "spf": "SPF record is valid",
    "dkim": "DKIM keys are published",
    "record": "Published record matches the plan",
    "dns_checked": "DNS has been checked",
    "no_legitimate_mail": "No legitimate mail (parked domains)",
}
GATE_STATUS = {"passed": "Passed", "blocked": "Blocked", "unknown": "Not known yet"}
CHANGE_STATUS = {
    "proposed": "waiting for approval",
    "approved": "approved, waiting for the change window",
    "scheduled": "approved and scheduled",
    "published": "issued; waiting for the record to be seen in DNS",
    "verified": "done: the record is live",
    "rejected": "rejected",
    "withdrawn": "withdrawn (a gate closed)",
    "superseded": "replaced by a newer change",
}
TIMELINE = {
    "evaluated": "Daily check",
    "adopted": "Plan started from the published record",
    "proposed": "Proposed",
    "approved": "Approved",
    "rejected": "Rejected",
    "scheduled": "Scheduled",
    "published": "Issued",
    "verified": "Seen live in DNS",
    "reminder": "Reminder sent",
    "rollback_proposed": "Step back proposed",
    "withdrawn": "Withdrawn",
    "superseded": "Superseded",
}
SEVERITY = {"error": "Must fix", "warning": "Should fix", "info": "Good to know"}
