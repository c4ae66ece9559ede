"""The dns area: the e-mail authentication record checker (SPF, DMARC, DKIM, MX, MTA-STS,
TLS-RPT, BIMI) and the continuous posture checks built on it (runs, drift, findings).

``checker`` and everything it calls need neither Flask nor a database; ``service``, ``models``
and ``tracking`` are the app-side part.
"""
