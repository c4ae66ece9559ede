"""Builders of hostile and edge-case inputs for the reports tests (no I/O, no fixtures)."""

from __future__ import annotations

import gzip
import io
import zipfile

GOOD_XML = b"""<?xml version="1.0" encoding="UTF-8"?>
<feedback>
  <report_metadata>
    <org_name>Receiver.Test</org_name>
    <email>dmarc@receiver.test</email>
    <report_id>rid-1</report_id>
    <date_range><begin>1761955200</begin><end>1762041599</end></date_range>
  </report_metadata>
  <policy_published>
    <domain>Example.TEST</domain><adkim>r</adkim><aspf>r</aspf><p>none</p><pct>100</pct>
  </policy_published>
  <record>
    <row>
      <source_ip>192.0.2.10</source_ip><count>5</count>
      <policy_evaluated><disposition>None</disposition><dkim>Pass</dkim><spf>FAIL</spf>
      </policy_evaluated>
    </row>
    <identifiers><header_from>Example.test</header_from></identifiers>
    <auth_results>
      <dkim><domain>example.test</domain><selector>s1</selector><result>Pass</result></dkim>
      <spf><domain>bounce.other.test</domain><result>softfail</result></spf>
    </auth_results>
  </record>
</feedback>
"""


def report_xml(
    *,
    domain: str = "example.test",
    report_id: str = "rid-1",
    org: str = "receiver.test",
    records: int = 1,
    count: int = 5,
    begin: int = 1761955200,
    end: int = 1762041599,
    namespace: str | None = None,
) -> bytes:
    """A well-formed aggregate report with ``records`` records of ``count`` messages each."""
    ns = f' xmlns="{namespace}"' if namespace else ""
    rows = "".join(
        f"<record><row><source_ip>192.0.2.{i % 250 + 1}</source_ip><count>{count}</count>"
        "<policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>fail</spf>"
        f"</policy_evaluated></row><identifiers><header_from>{domain}</header_from></identifiers>"
        f"<auth_results><dkim><domain>{domain}</domain><selector>s{i % 3}</selector>"
        "<result>pass</result></dkim><spf><domain>other.test</domain><result>fail</result></spf>"
        "</auth_results></record>"
        for i in range(records)
    )
    return (
        f'<?xml version="1.0"?><feedback{ns}><report_metadata><org_name>{org}</org_name>'
        f"<email>d@{org}</email><report_id>{report_id}</report_id><date_range><begin>{begin}"
        f"</begin><end>{end}</end></date_range></report_metadata><policy_published>"
        f"<domain>{domain}</domain><p>none</p></policy_published>{rows}</feedback>"
    ).encode()


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE feedback [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<feedback><report_metadata><org_name>&xxe;</org_name></report_metadata></feedback>
"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<feedback><report_metadata><org_name>&lol3;</org_name></report_metadata></feedback>
"""

WRONG_NAMESPACE = GOOD_XML.replace(b"<feedback>", b'<feedback xmlns="urn:evil:ns">')


def gzip_bomb(size: int = 600 * 1024 * 1024) -> bytes:
    """A gzip stream of ``<feedback>`` and ``size`` spaces (compresses about 1000:1)."""
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9) as gz:
        gz.write(b"<feedback>")
        block = b" " * (1024 * 1024)
        for _ in range(size // len(block)):
            gz.write(block)
    return out.getvalue()


def zip_of(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


def report_email(attachment: bytes, filename: str, to: str = "dmarc@reports.test") -> bytes:
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"] = "noreply-dmarc@receiver.test"
    msg["To"] = to
    msg["Subject"] = "Report Domain: example.test Submitter: receiver.test Report-ID: rid-1"
    msg.set_content("DMARC aggregate report attached.")
    msg.add_attachment(attachment, maintype="application", subtype="gzip", filename=filename)
    return msg.as_bytes()


def row(
    ip: str,
    count: int,
    *,
    dkim: bool = True,
    spf: bool = True,
    selector: str = "s1",
    signer: str | None = None,
    disposition: str = "none",
    header_from: str | None = None,
) -> dict[str, object]:
    """One record for :func:`build_report`."""
    return {
        "ip": ip,
        "count": count,
        "dkim": dkim,
        "spf": spf,
        "selector": selector,
        "signer": signer,
        "disposition": disposition,
        "header_from": header_from,
    }


def build_report(
    domain: str,
    rows: list[dict[str, object]],
    *,
    report_id: str = "r-1",
    org: str = "receiver.test",
    begin: int = 1735689600,
    end: int = 1735775999,
) -> bytes:
    """An aggregate report with exactly the given records (dates default to 2025-01-01)."""
    parts = []
    for r in rows:
        word = {True: "pass", False: "fail"}
        signer = r["signer"] or domain
        parts.append(
            f"<record><row><source_ip>{r['ip']}</source_ip><count>{r['count']}</count>"
            f"<policy_evaluated><disposition>{r['disposition']}</disposition>"
            f"<dkim>{word[bool(r['dkim'])]}</dkim><spf>{word[bool(r['spf'])]}</spf>"
            f"</policy_evaluated></row><identifiers><header_from>{r['header_from'] or domain}"
            f"</header_from></identifiers><auth_results><dkim><domain>{signer}</domain>"
            f"<selector>{r['selector']}</selector><result>{word[bool(r['dkim'])]}</result>"
            f"</dkim><spf><domain>{domain}</domain><result>{word[bool(r['spf'])]}</result>"
            "</spf></auth_results></record>"
        )
    return (
        f'<?xml version="1.0"?><feedback><report_metadata><org_name>{org}</org_name>'
        f"<email>d@{org}</email><report_id>{report_id}</report_id><date_range><begin>{begin}"
        f"</begin><end>{end}</end></date_range></report_metadata><policy_published>"
        f"<domain>{domain}</domain><p>none</p></policy_published>{''.join(parts)}</feedback>"
    ).encode()
