"""The report corpus (tests/data/corpus, copied from public projects with its MANIFEST.tsv and
LICENSES): its files and what each one must become here."""

from __future__ import annotations

import os
from pathlib import Path

DATA = Path(__file__).parents[1] / "data"
CORPUS = Path(os.environ.get("MSP_CORPUS_DIR", DATA / "corpus"))
GENERATORS = DATA / "generators"

# Every domain the corpus reports about; the test tenant owns them all.
DOMAINS = (
    "example.com",
    "borschow.com",
    "website.com",
    "myserver.com",
    "foo-bar.io",
    "mydomain.org",
    "foobar.de",
    "random.net",
    "bix-business.com",
    "foobar.com",
    "random.org",
    "indemed.com",
    "example.de",
    "ab.id.au",
    "test.net",
    "twlnet.com",
    "company-y.example",
    "server.com",
    "cardinalhealth.ca",
    "domain.de",
    "cardinal.com",
)

# Files in sorted path order; a later copy of an earlier report is a duplicate.
EXPECTED = {
    "aggregate/!example.com!1538204542!1538463818.xml": "ingested",
    "aggregate/!large-example.com!1711897200!1711983600.xml": "ingested",
    "aggregate/Report domain- borschow.com Submitter- google.com Report-ID- "
    "949348866075514174.eml": "ingested",
    "aggregate/addisonfoods.com!example.com!1536105600!1536191999.xml": "ingested",
    "aggregate/cryinc-acme.xml": "ingested",
    "aggregate/cryinc-aol.xml": "ingested",
    "aggregate/cryinc-gmxnet.xml": "ingested",
    "aggregate/cryinc-google.xml": "ingested",
    "aggregate/cryinc-hardfail.xml": "ingested",
    "aggregate/cryinc-mailru.xml": "ingested",
    "aggregate/cryinc-outlook.xml": "ingested",
    "aggregate/cryinc-solamora.xml": "ingested",
    "aggregate/cryinc-webde.xml": "ingested",
    "aggregate/cryinc-yahoo.xml": "ingested",
    "aggregate/empty_reason.xml": "ingested",
    "aggregate/estadocuenta1.infonacot.gob.mx!example.com!1536853302!1536939702!2940.xml.zip": (
        "ingested"
    ),
    "aggregate/example.net!example.com!1529366400!1529452799.xml": "ingested",
    "aggregate/fastmail.com!example.com!1516060800!1516147199!102675056.xml.gz": "ingested",
    "aggregate/ikea.com!example.de!1538690400!1538776800.xml": "ingested",
    "aggregate/mimecast-weird-gzip.eml": "ingested",
    "aggregate/old_draft_from_wiki.xml": "duplicate",  # same report as cryinc-acme.xml
    "aggregate/parsedmarc-extract_report-changed-input.xml": "ingested",  # other org_name
    "aggregate/parsedmarc-extract_report-nice-input.xml": "ingested",
    "aggregate/parsedmarc-extract_report-nice-input.xml.gz": "duplicate",
    "aggregate/parsedmarc-extract_report-nice-input.xml.zip": "duplicate",
    "aggregate/protection.outlook.com!example.com!1711756800!1711843200.xml": "ingested",
    "aggregate/rfc9990-example.net!example.com!1700000000!1700086399.xml": "ingested",
    "aggregate/rfc9990-sample.xml": "ingested",
    "aggregate/tierpod-test.xml": "ingested",
    "aggregate/tierpod-test.xml.gz": "duplicate",
    "aggregate/tierpod-test.xml.zip": "duplicate",
    "aggregate/tierpod-test2.xml": "duplicate",  # same org, id and domain as tierpod-test.xml
    "aggregate/twilight.eml": "ingested",
    "aggregate/usssa.com!example.com!1538784000!1538870399.xml": "ingested",
    "aggregate/veeam.com!example.com!1530133200!1530219600.xml": "ingested",
    "bad/cryinc-invalid_casing.xml": "duplicate",  # cryinc-hardfail.xml with PascalCase words
    "bad/invalid_utf_8.xml": "duplicate",  # !example.com!1538204542 with broken bytes
    "bad/invalid_xml.xml": "duplicate",  # the veeam.com report with broken markup
    "bad/parsedmarc-empty.xml": "rejected",
    "bad/report_with_upper_cased_pass.xml": "ingested",
    "bad/tierpod-test.xml.gz.gz": "rejected",
    "bad/tierpod-test_empty.xml": "rejected",
    "forensic/DMARC Failure Report for domain.de (mail-from=sharepoint@domain.de, "
    "ip=10.10.10.10).eml": "ingested",
    "forensic/[Netease DMARC Failure Report] Rent Reminder.eml": "ingested",
    "forensic/dmarc_ruf_report_linkedin.crlf.eml": "ingested",
    "forensic/dmarc_ruf_report_linkedin.eml": "duplicate",  # the CRLF copy came first
    "forensic/exim_plain_text_only_no_arf_part.eml": "ingested",
    "smtp_tls/cryinc-google.json": "ingested",
    "smtp_tls/cryinc-microsoft.json": "ingested",
    "smtp_tls/cryinc-no-contact.json": "ingested",
    "smtp_tls/cryinc-no-policy.json": "ingested",
    "smtp_tls/cryinc-no_ip_and_mx.json": "unrouted",  # nobody manages xxxxxxxx.xx
    "smtp_tls/cryinc-rfc-example.json": "ingested",
    "smtp_tls/google.com_smtp_tls_report.eml": "ingested",
    "smtp_tls/mail.ru.json": "ingested",
    "smtp_tls/rfc8460.json": "duplicate",  # the RFC example again
    "smtp_tls/smtp_tls.json": "ingested",
}


def corpus_files() -> list[Path]:
    return sorted(p for p in CORPUS.glob("*/*") if p.is_file() and p.parent.name != "LICENSES")


def rel(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"
