"""The forwarding evidence of a domain's failing mail, as the engine's judgement of the rows the
reports area reads (:func:`msp.reports.forwarding_reads.failing_records`: which signatures, SPF
domains and override reasons the mail carried). The SQL is the reports area's; this module
only turns its typed rows into :class:`~msp.policy.forwarding.RecordEvidence` and asks
:func:`~msp.policy.forwarding.forwarding_signs` about each sender.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from msp.policy.forwarding import RecordEvidence, forwarding_signs
from msp.reports.forwarding_reads import FailingRecord, failing_records


def _evidence(domain: str, record: FailingRecord) -> RecordEvidence:
    return RecordEvidence(
        domain=domain,
        header_from=record.header_from,
        spf_domain=record.spf_domain,
        spf_result=record.spf_result,
        dkim=record.dkim,
        reasons=record.reasons,
        ptr=record.ptr,
        service_type=record.service_type,
    )


def forwarding_evidence(domain_id: int, since: date, until: date) -> Mapping[str, tuple[str, ...]]:
    """Per sender key, why its failing mail in [since, until] looks forwarded (only those)."""
    found = failing_records(domain_id, since, until)
    grouped: dict[str, list[RecordEvidence]] = {}
    for record in found.records:
        grouped.setdefault(record.sender, []).append(_evidence(found.domain, record))
    signs = {sender: forwarding_signs(records) for sender, records in grouped.items()}
    return {sender: reasons for sender, reasons in signs.items() if reasons}
