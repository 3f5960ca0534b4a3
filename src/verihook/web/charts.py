"""Bar charts as inline SVG (no script, no outside asset): volume, success rate and latency per hour."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from markupsafe import Markup, escape

from verihook.service.stats import Bucket

WIDTH, HEIGHT, AXIS = 480, 160, 24


def bar_chart(title: str, buckets: Sequence[Bucket], value: Callable[[Bucket], float | None],
              label: Callable[[float], str], ceiling: float | None = None) -> Markup:
    """One bar per bucket, scaled to the largest value (or `ceiling`); a bucket without a value has no bar.
    The chart carries a text summary for screen readers."""
    values = [value(b) for b in buckets]
    known = [v for v in values if v is not None]
    top = ceiling or max(known, default=0.0) or 1.0
    slot = WIDTH / max(1, len(buckets))
    when = "%H:00" if len(buckets) <= 24 else "%a %H:00"  # a longer window names the day too
    bars = []
    for index, (bucket, amount) in enumerate(zip(buckets, values, strict=True)):
        if amount is None:
            continue
        height = (HEIGHT - AXIS) * min(amount, top) / top
        hour = datetime.fromtimestamp(bucket.start, UTC).strftime(when)
        bars.append(f'<rect class="bar" x="{index * slot + 1:.1f}" y="{HEIGHT - AXIS - height:.1f}" '
                    f'width="{max(1.0, slot - 2):.1f}" height="{height:.1f}"><title>{hour}: '
                    f"{escape(label(amount))}</title></rect>")
    first = datetime.fromtimestamp(buckets[0].start, UTC).strftime(when) if buckets else ""
    summary = (f"{title}: highest {label(max(known))}, latest {label(known[-1])}" if known
               else f"{title}: no data yet")
    return Markup(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(summary)}">'
        f'<line class="axis" x1="0" y1="{HEIGHT - AXIS}" x2="{WIDTH}" y2="{HEIGHT - AXIS}"/>'
        f'{"".join(bars)}'
        f'<text class="tick" x="0" y="{HEIGHT - 4}">{first}</text>'
        f'<text class="tick" x="{WIDTH}" y="{HEIGHT - 4}" text-anchor="end">now</text>'
        f'<text class="tick" x="0" y="16">{escape(label(top))}</text></svg>')


def overview_charts(buckets: Sequence[Bucket]) -> list[tuple[str, Markup]]:
    return [
        ("Delivery attempts per hour", bar_chart("Attempts per hour", buckets, lambda b: float(b.attempts),
                                                 lambda v: f"{v:.0f}")),
        ("Success rate of finished deliveries", bar_chart("Success rate", buckets, lambda b: b.success_rate,
                                                          lambda v: f"{v * 100:.0f} %", ceiling=1.0)),
        ("Mean latency of answered attempts", bar_chart("Mean latency", buckets,
                                                        lambda b: b.mean_latency_ms, lambda v: f"{v:.0f} ms")),
    ]
