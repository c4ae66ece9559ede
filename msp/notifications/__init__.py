"""The notifications area: events in, e-mails and signed webhooks out, and the weekly digest.

- ``channels/``: the channel registry (one small module per channel, declaring its fields)
- ``routing``: which teams hear about which events (pure rules, with defaults)
- ``service``: teams, endpoints (secrets sealed with ``MSP_ENCRYPTION_KEY``) and rules
- ``delivery``: events fanned out to delivery rows, each sent once, retried with back-off
- ``digest`` and ``sources``: the weekly posture e-mail, with sections from other areas
- ``cli``: ``msp notify ...`` and ``msp digest send``
"""
