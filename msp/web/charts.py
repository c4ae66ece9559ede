"""Charts drawn on the server as SVG (no JavaScript chart library): the compliance chart of a
tenant or a domain. Each chart comes with its numbers as a table, the text alternative."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from html import escape

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 70, 52, 16, 34
BAR = "#7f9cb8"
LINE = "#1b6f35"
INK = "#1d2733"


@dataclass(frozen=True)
class Period:
    """One bar of the chart: a day or a week starting on ``start``."""

    start: date
    messages: int
    passed: int

    @property
    def share(self) -> float | None:
        return self.passed / self.messages if self.messages else None


def _nice_max(value: int) -> int:
    if value <= 10:
        return 10
    magnitude: int = 10 ** (len(str(value)) - 1)
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return value


def _text(x: float, y: float, body: str, anchor: str = "middle", extra: str = "") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="11" '
        f'fill="{INK}"{extra}>{escape(body)}</text>'
    )


def _axes(top_volume: int) -> list[str]:
    plot_h = HEIGHT - TOP - BOTTOM
    parts = []
    for i in range(5):
        y = TOP + plot_h * i / 4
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d5dde5"/>'
        )
        parts.append(_text(LEFT - 6, y + 4, f"{round(top_volume * (4 - i) / 4):,}", "end"))
        parts.append(_text(WIDTH - RIGHT + 6, y + 4, f"{100 - 25 * i}%", "start"))
    parts.append(
        _text(
            14,
            TOP + plot_h / 2,
            "messages",
            extra=f' transform="rotate(-90 14 {TOP + plot_h / 2:.1f})"',
        )
    )
    return parts


def compliance_svg(periods: list[Period], label: str) -> str:
    """Bars: messages per period (left axis); line: share passing DMARC (right axis)."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top_volume = _nice_max(max((p.messages for p in periods), default=0))
    slot = plot_w / max(len(periods), 1)
    parts = _axes(top_volume)
    points = []
    for i, period in enumerate(periods):
        x = LEFT + slot * i
        height = plot_h * period.messages / top_volume
        parts.append(
            f'<rect x="{x + slot * 0.15:.1f}" y="{TOP + plot_h - height:.1f}" '
            f'width="{slot * 0.7:.1f}" height="{height:.1f}" fill="{BAR}"/>'
        )
        if period.share is not None:
            points.append(f"{x + slot / 2:.1f},{TOP + plot_h * (1 - period.share):.1f}")
        if i % max(1, len(periods) // 7) == 0:
            parts.append(_text(x + slot / 2, HEIGHT - BOTTOM + 16, period.start.strftime("%d %b")))
    if points:
        parts.append(
            f'<polyline points="{" ".join(points)}" fill="none" stroke="{LINE}" '
            'stroke-width="2.5"/>'
        )
    body = "".join(parts)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(label)}"><title>{escape(label)}</title>{body}</svg>'
    )
