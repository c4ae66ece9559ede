"""The domain page's TLS report summary, failure reports (as redacted as the tenant chose) and
DNS history, from corpus reports rewritten for the test domain and ingested for real."""

from __future__ import annotations

import html
from datetime import timedelta
from pathlib import Path

from flask.testing import FlaskClient

from msp.db import utcnow
from msp.reports.service import ingest_now
from tests.web_domain.conftest import World, login

CORPUS = Path(__file__).resolve().parents[1] / "data" / "corpus"


def test_tls_summary_failure_reports_and_dns_history(client: FlaskClient, world: World) -> None:
    day = (utcnow() - timedelta(days=3)).date().isoformat()
    tls = (CORPUS / "smtp_tls" / "smtp_tls.json").read_text().replace("2024-01-09", day)
    ruf = (CORPUS / "forensic" / "dmarc_ruf_report_linkedin.eml").read_bytes()
    for name, data in (
        ("tls.json", tls.replace("example.com", "acme-web.test").encode()),
        ("ruf.eml", ruf.replace(b"example.com", b"acme-web.test")),
    ):
        ingest_now(data, source="upload", filename=name, tenant_id=world.tenant.id)
    login(client, world.admin)
    page = html.unescape(client.get(f"/domains/{world.domain.id}").get_data(True))
    activity = page.split('id="activity"')[1]
    tls_table = activity.split('id="tls"')[1].split("</table>")[0]
    assert "sts" in tls_table and "validation failure: 3" in tls_table
    assert "(100.0%)" in tls_table, "every session failed: the share is explained"
    failures = activity.split('id="failures"')[1].split("</ul>")[0]
    assert "from 10.10.10.10" in failures and "(redacted)" in failures
    assert "Addresses and subjects are redacted, as this tenant chose." in activity
    assert "sender@acme-web.test" not in failures, "the local part is not shown when redacted"
    history = activity.split('id="history"')[1].split("</ol>")[0]
    assert "grade F" in history
