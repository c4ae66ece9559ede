"""The digest's sentences: protection levels, stage names, one plain sentence per domain, what
an event means, and the actions with the team that owns each. Pure: facts in, words out.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from msp.notifications.routing import SECURITY, SERVICE_DESK, SYSADMINS, TEAM_LABELS
from msp.notifications.sources import DomainFacts, PlanFacts

REJECT, QUARANTINE, MONITORING, UNPROTECTED = "reject", "quarantine", "monitoring", "unprotected"
PROTECTION_LABELS = {
    REJECT: "Protected (p=reject)",
    QUARANTINE: "Quarantine (p=quarantine)",
    MONITORING: "Monitoring only (p=none)",
    UNPROTECTED: "Unprotected",
}
_RANK = {UNPROTECTED: 0, MONITORING: 1, QUARANTINE: 2, REJECT: 3}
_MOVED = {
    REJECT: "moved to p=reject",
    QUARANTINE: "moved to quarantine",
    MONITORING: "moved to monitoring",
    UNPROTECTED: "lost their DMARC record",
}
STAGE_LABELS = {
    "none": "not started",
    "monitor": "monitoring",
    "quarantine_test": "quarantine (test)",
    "quarantine": "quarantine",
    "reject_test": "reject (test)",
    "reject": "reject",
    "parked": "parked",
}
# Which team fixes what a policy gate blocks on.
GATE_TEAMS = {
    "spf": SYSADMINS,
    "dkim": SYSADMINS,
    "record": SYSADMINS,
    "coverage": SYSADMINS,
    "senders": SECURITY,
    "new_senders": SECURITY,
    "aligned_share": SECURITY,
}
NOT_ACTIONS = frozenset({"soak"})  # waiting is not something a person does
# The most concrete reasons first: "Newsletter Co sends 3,400 messages a week without DKIM"
# tells a reader more than "85% of approved mail passes DMARC".
GATE_ORDER = ("senders", "dkim", "spf", "new_senders", "record", "aligned_share", "coverage")


def _ordered(blocked: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
    rank = {gate: n for n, gate in enumerate(GATE_ORDER)}
    actionable = [item for item in blocked if item[0] not in NOT_ACTIONS]
    return sorted(actionable, key=lambda item: rank.get(item[0], len(rank)))


def protection_of(policy: str | None) -> str:
    """The protection level of a published DMARC policy (None: no record)."""
    return {"reject": REJECT, "quarantine": QUARANTINE, "none": MONITORING}.get(
        policy or "", UNPROTECTED
    )


def stage_label(stage: str | None) -> str:
    return STAGE_LABELS.get(stage or "none", (stage or "none").replace("_", " "))


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def headline_sentences(facts: list[DomainFacts]) -> list[str]:
    """ "2 domains moved to quarantine": one sentence per level that domains moved to."""
    moved: Counter[str] = Counter()
    for f in facts:
        if not f.checked_last_week:
            continue
        now = protection_of(f.posture.dmarc_policy if f.posture else None)
        if now != protection_of(f.policy_last_week):
            moved[now] += 1
    sentences = [
        f"{_plural(moved[level], 'domain')} {_MOVED[level]}"
        for level in (REJECT, QUARANTINE, MONITORING, UNPROTECTED)
        if moved[level]
    ]
    return sentences or ["No domain changed its protection this week"]


def _date(moment: datetime) -> str:
    return moment.strftime("%a %d %b")


def _plan_sentence(plan: PlanFacts, now: datetime) -> tuple[str, bool]:
    nxt = stage_label(plan.change_to or plan.next_stage)
    if plan.change_to and plan.change_status == "scheduled" and plan.change_at:
        return f"Next step: {nxt} on {_date(plan.change_at)}.", False
    if plan.change_to and plan.change_status in {"proposed", "approved"}:
        return f"Next step: {nxt}, waiting for your approval.", True
    if plan.stage == "reject" and plan.next_stage is None:
        return "Fully protected: receivers reject mail that fails DMARC.", False
    blockers = [reason for _, reason in _ordered(plan.blocked)]
    if blockers:
        more = f" (and {len(blockers) - 1} more)" if len(blockers) > 1 else ""
        return f"Blocked: {_sentence(blockers[0])}{more}.", True
    if plan.ready_on is not None:
        return f"On track: {nxt} from {_date(plan.ready_on)}.", False
    if plan.next_stage:
        return f"Ready for {nxt}: the change will be proposed at the next daily check.", False
    return f"Stage: {stage_label(plan.stage)}.", False


def _sentence(reason: str) -> str:
    return reason[:1].upper() + reason[1:] if reason else reason


def domain_sentence(facts: DomainFacts, now: datetime) -> tuple[str, bool]:
    """One sentence a non-specialist understands, and whether it needs attention."""
    if facts.posture is None:
        return "Not checked yet: the first DNS check runs shortly.", False
    if facts.plan is None:
        return f"Published policy: {facts.posture.dmarc_policy or 'none'}.", False
    sentence, attention = _plan_sentence(facts.plan, now)
    if facts.posture.dmarc_policy is None:
        return f"No DMARC record: anyone can send mail in its name. {sentence}", True
    return sentence, attention


def _names(payload: dict[str, Any]) -> str:
    code = payload.get("code") or ""
    message = payload.get("message") or ""
    return f"{message} ({code})" if message and code else str(message or code)


def change_of(kind: str, payload: dict[str, Any]) -> tuple[str, str]:
    """(short label, sentence) for one event of the week."""
    summary = str(payload.get("summary") or "")
    if kind == "dns.drift":
        return "record change", f"the {payload.get('key', 'DNS')} record changed"
    if kind == "dns.finding.opened":
        return "problem opened", _names(payload) or "a new DNS problem"
    if kind == "dns.finding.closed":
        return "problem closed", f"fixed: {_names(payload) or 'a DNS problem'}"
    if kind.startswith("policy."):
        stage = stage_label(str(payload.get("stage") or ""))
        verb = kind.removeprefix("policy.").replace("_", " ")
        return "stage move", summary or f"policy {verb} ({stage})"
    return kind, summary or kind


@dataclass(frozen=True)
class Action:
    text: str
    team: str
    domain: str
    domain_id: int


def _plan_actions(facts: DomainFacts, plan: PlanFacts) -> list[tuple[int, Action]]:
    found: list[tuple[int, Action]] = []
    if plan.change_to and plan.change_status == "proposed":
        text = f"Approve the move of {facts.name} to {stage_label(plan.change_to)}"
        found.append((0, Action(text, TEAM_LABELS[SERVICE_DESK], facts.name, facts.id)))
    for gate, reason in _ordered(plan.blocked):
        team = TEAM_LABELS[GATE_TEAMS.get(gate, SYSADMINS)]
        found.append((1, Action(_sentence(reason), team, facts.name, facts.id)))
    return found


def actions_of(facts: list[DomainFacts]) -> list[Action]:
    """The actions that move domains forward, most urgent first."""
    ranked: list[tuple[int, Action]] = []
    for f in facts:
        if f.posture is None:
            continue
        if f.plan is not None:
            ranked.extend(_plan_actions(f, f.plan))
    ranked.sort(key=lambda item: item[0])
    return [action for _, action in ranked]
