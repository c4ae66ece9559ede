"""The policy area: each domain's staged road to ``p=reject``, gated on evidence, scheduled,
verified and reversible.

- :mod:`~msp.policy.stages` the stage machine (none, monitor, quarantine_test, quarantine,
  reject_test, reject; parked fast path) and rollback targets;
- :mod:`~msp.policy.records` the exact records per stage (RFC 9989 and RFC 7489 at once);
- :mod:`~msp.policy.facts`, :mod:`~msp.policy.gates`, :mod:`~msp.policy.engine` the pure
  engine: facts and the time in, decisions out; :mod:`~msp.policy.window` change windows;
  :mod:`~msp.policy.history` senders remembered over a horizon (rare senders, DKIM breaks),
  :mod:`~msp.policy.forwarding` forwarded and list mail told by evidence,
  :mod:`~msp.policy.drift` the published record guarded at every stage (all pure);
- :mod:`~msp.policy.simulate` what-if replays of daily rows under a proposed record;
- :mod:`~msp.policy.settings` tenant and domain policy keys, defaults and validation;
- :mod:`~msp.policy.loader` facts from the DNS checker's typed posture view and report
  ingestion (the I/O edge; a DNS failure stays "unknown"), :mod:`~msp.policy.evidence_reads`
  the forwarding evidence of failing aggregate records;
- :mod:`~msp.policy.models`, :mod:`~msp.policy.service`, :mod:`~msp.policy.changes`,
  :mod:`~msp.policy.timeline` persistence, decisions, the change life cycle and events;
- :mod:`~msp.policy.cli` ``msp plan``, ``msp evaluate``, ``msp simulate``, ``msp escalations``
  and ``msp senders``; the API is ``msp.api.policy`` and the jobs ``workers.policy``.

Evaluations run daily (04:15 UTC sweep), after every DNS check of the domain (so a new domain
has a plan after its first check), and on demand (``msp evaluate``, ``POST .../evaluate``);
reading a plan never writes.

A change's life: proposed (by an evaluation, or by hand when every gate passes) ->
approved (MSP staff or tenant admin; automatic if the tenant opted in) -> scheduled (the next
change window in the tenant's time zone; a rollback at once; the issuing job is enqueued for
that time) -> published (the records are issued, after a last gate check; a DNS check follows
at once and an hour later) -> verified (a DNS check after issuing shows them live; only
then does the stage move). Reminders follow an issued record that is not live in time.
"""
