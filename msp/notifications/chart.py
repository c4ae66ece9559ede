"""The digest's chart: mail volume per week (bars) and the share passing DMARC (line), as a
PNG for an inline (Content-ID) image. E-mail clients run no script and many block remote
images, so the chart is drawn on the server.

matplotlib is imported inside :func:`pass_share_chart` only (it costs ~0.5 s and ~60 MB): the
web and API processes that never draw a chart never load it. The Figure API is used rather
than pyplot, which keeps every figure in a process-global registry until closed.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Sequence

from msp.notifications.sources import WeekTotal

WIDTH_PX, HEIGHT_PX, DPI = 1120, 440, 200  # drawn at 2x, shown at 560x220 (sharp on HiDPI)
VOLUME_COLOR = "#c9d3df"


def _labels(weeks: Sequence[WeekTotal]) -> list[str]:
    return [w.start.strftime("%d %b") for w in weeks]


def pass_share_chart(weeks: Sequence[WeekTotal], color: str) -> bytes:
    """The PNG: one bar per week (messages) and the DMARC pass share on a 0-100 % axis."""
    # A container's home may be read-only: matplotlib writes its font cache on first import.
    os.environ.setdefault("MPLCONFIGDIR", os.path.join(tempfile.gettempdir(), "msp-matplotlib"))
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    volume = fig.add_subplot()
    x = list(range(len(weeks)))
    volume.bar(x, [w.messages for w in weeks], color=VOLUME_COLOR, width=0.6, zorder=1)
    volume.set_ylabel("messages", fontsize=7, color="#5b6b7d")
    volume.tick_params(axis="both", labelsize=6.5, colors="#5b6b7d", length=0)
    volume.set_xticks(x, _labels(weeks))
    volume.yaxis.set_major_formatter(lambda value, _: f"{value:,.0f}")
    share = volume.twinx()
    points = [(i, 100 * w.share) for i, w in enumerate(weeks) if w.share is not None]
    if points:
        share.plot(
            *zip(*points, strict=True),
            color=color,
            linewidth=1.6,
            marker="o",
            markersize=2.6,
            zorder=3,
        )
    share.set_ylim(0, 105)
    share.set_ylabel("% passing DMARC", fontsize=7, color=color)
    share.tick_params(axis="y", labelsize=6.5, colors=color, length=0)
    for axis in (volume, share):
        for side in ("top", "left", "right"):
            axis.spines[side].set_visible(False)
        axis.spines["bottom"].set_color("#c0c8d2")
    volume.grid(axis="y", color="#eef1f4", linewidth=0.6, zorder=0)
    volume.set_axisbelow(True)
    fig.tight_layout(pad=0.4)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def chart_alt(weeks: Sequence[WeekTotal]) -> str:
    """The chart in words (alt text, and the text part's line)."""
    seen = [w for w in weeks if w.messages]
    if not seen:
        return f"No DMARC reports received in the last {len(weeks)} weeks."
    last = seen[-1]
    share = 100 * (last.share or 0.0)
    return (
        f"DMARC pass share per week over {len(weeks)} weeks; week of "
        f"{last.start:%d %b}: {share:.1f}% of {last.messages:,} messages passed."
    )
