"""The notifications area: events in; e-mails, signed webhooks, Slack and Teams out; the weekly
digest to each tenant and the roll-up to the MSP's staff.

- ``channels/``: the channel registry (one small module per channel, declaring its fields and
  which are secret); ``channels/http`` posts through :mod:`msp.netguard`
- ``routing``: which teams hear about which events (pure rules, with defaults)
- ``rules``: when they hear it (quiet hours, daily summary, duplicate suppression)
- ``service``: teams, endpoints (secrets sealed with ``MSP_ENCRYPTION_KEY``) and rules
- ``delivery``: events fanned out to delivery rows, each sent once, retried with back-off
- ``sources`` -> ``digest`` (+ ``digest_text``) -> ``digest_render`` (+ ``chart``): what the
  weekly digest says, read through the DNS, policy and reports areas' typed functions, and how
  it reads; ``digest_service``: schedule, recipients, claims sent once, unsubscribe
- ``rollup``: the MSP staff's weekly roll-up across their tenants
- ``cli``: ``msp notify ...`` and ``msp digest send|preview``
"""
