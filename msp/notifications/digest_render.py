"""How the digest reads: the HTML part (inline CSS, tables, images by Content-ID, nothing
remote), the text part that says the same, and the e-mail of one recipient (unsubscribe link
and RFC 8058 one-click headers, the MSP's branding and Reply-To).

The rendered issue is the same for every recipient but for the unsubscribe URL, which is a
placeholder until :func:`for_recipient` puts the recipient's signed link in.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from email.utils import formatdate
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from msp.notifications.chart import chart_alt, pass_share_chart
from msp.notifications.digest import Digest
from msp.notifications.digest_text import PROTECTION_LABELS, stage_label
from msp.notifications.settings import Brand

UNSUBSCRIBE_PLACEHOLDER = "https://unsubscribe.invalid/__recipient__"
CHART_CID = "weekly-chart@digest.msp"
LOGO_CID = "brand-logo@digest.msp"
MAX_LOGO_BYTES = 200_000
GRADE_COLORS = {"A": "#1a7f37", "B": "#4d8b31", "C": "#9a6700", "D": "#bc4c00", "F": "#cf222e"}
LEVEL_COLORS = {
    "reject": "#1a7f37",
    "quarantine": "#4d8b31",
    "monitoring": "#9a6700",
    "unprotected": "#cf222e",
}


@dataclass(frozen=True)
class InlineImage:
    cid: str  # without angle brackets, as ``cid:`` URLs name it
    filename: str
    data: bytes


@dataclass(frozen=True)
class RenderedDigest:
    """One week's digest of one tenant, ready for any recipient."""

    subject: str
    text: str
    html: str
    images: tuple[InlineImage, ...]
    data: dict[str, Any]

    def as_row(self) -> dict[str, Any]:
        """JSON-ready (stored once per tenant and week, read by each recipient's send)."""
        return {
            "subject": self.subject,
            "text": self.text,
            "html": self.html,
            "images": [
                {"cid": i.cid, "filename": i.filename, "data": base64.b64encode(i.data).decode()}
                for i in self.images
            ],
            "data": self.data,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> RenderedDigest:
        images = tuple(
            InlineImage(str(i["cid"]), str(i["filename"]), base64.b64decode(i["data"]))
            for i in row.get("images", [])
        )
        return cls(
            str(row["subject"]), str(row["text"]), str(row["html"]), images, row.get("data", {})
        )


@cache  # one compiled set of templates per process (compiling took ~200 ms a render)
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("msp.notifications", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["stage"] = stage_label
    return env


def _logo(brand: Brand) -> InlineImage | None:
    if not brand.logo_file:
        return None
    path = Path(brand.logo_file)
    data = path.read_bytes()[: MAX_LOGO_BYTES + 1]
    if len(data) > MAX_LOGO_BYTES or not data.startswith(b"\x89PNG"):
        raise ValueError(f"{path}: the logo must be a PNG of at most {MAX_LOGO_BYTES} bytes")
    return InlineImage(LOGO_CID, "logo.png", data)


def render_digest(digest: Digest, brand: Brand, *, chart: bool = True) -> RenderedDigest:
    """The digest as text and HTML with its inline images (the chart unless ``chart=False``)."""
    images: list[InlineImage] = []
    if chart and any(w.messages for w in digest.weeks):
        images.append(
            InlineImage(CHART_CID, "dmarc-weekly.png", pass_share_chart(digest.weeks, brand.color))
        )
    logo = _logo(brand)
    if logo is not None:
        images.append(logo)
    context: dict[str, Any] = {
        "d": digest,
        "brand": brand,
        "chart_cid": CHART_CID if images and images[0].cid == CHART_CID else None,
        "chart_alt": chart_alt(digest.weeks),
        "logo_cid": LOGO_CID if logo else None,
        "levels": PROTECTION_LABELS,
        "level_colors": LEVEL_COLORS,
        "grade_colors": GRADE_COLORS,
        "unsubscribe_url": UNSUBSCRIBE_PLACEHOLDER,
    }
    env = _environment()
    return RenderedDigest(
        subject=f"{digest.tenant_name}: your e-mail security this week ({digest.week})",
        text=env.get_template("digest.txt").render(context),
        html=env.get_template("digest.html").render(context),
        images=tuple(images),
        data={"type": "digest", "digest": _jsonable(asdict(digest))},
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def with_data_uris(html: str, images: tuple[InlineImage, ...]) -> str:
    """The HTML with its ``cid:`` images as data URIs (for previews in a browser)."""
    for image in images:
        uri = "data:image/png;base64," + base64.b64encode(image.data).decode()
        html = html.replace(f"cid:{image.cid}", uri)
    return html


def _message_id(key: str, domain: str) -> str:
    # Deterministic per (tenant, week, recipient): should a crashed worker's send be retried
    # after the relay accepted it, mail clients see the same message, not a second one.
    return f"<digest.{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


def for_recipient(
    issue: RenderedDigest,
    *,
    to: str,
    mail_from: str,
    brand: Brand,
    unsubscribe_url: str,
    unsubscribe_mailto: str | None,
    key: str,
) -> EmailMessage:
    """The e-mail of one recipient: text + HTML, images related to the HTML by Content-ID."""
    mail = EmailMessage()
    mail["Subject"] = issue.subject
    mail["From"] = f"{brand.name} <{mail_from}>" if brand.name else mail_from
    mail["To"] = to
    if brand.reply_to:
        mail["Reply-To"] = brand.reply_to
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = _message_id(key, mail_from.rpartition("@")[2] or "localhost")
    mail["Auto-Submitted"] = "auto-generated"
    targets = [f"<{unsubscribe_url}>"]
    if unsubscribe_mailto:
        targets.append(f"<mailto:{unsubscribe_mailto}>")
    mail["List-Unsubscribe"] = ", ".join(targets)
    mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"  # RFC 8058
    mail.set_content(issue.text.replace(UNSUBSCRIBE_PLACEHOLDER, unsubscribe_url))
    mail.add_alternative(
        issue.html.replace(UNSUBSCRIBE_PLACEHOLDER, unsubscribe_url), subtype="html"
    )
    html_part = mail.get_body(("html",))
    assert html_part is not None  # added just above
    for image in issue.images:
        html_part.add_related(
            image.data,
            maintype="image",
            subtype="png",
            cid=f"<{image.cid}>",
            filename=image.filename,
            disposition="inline",
        )
    return mail
