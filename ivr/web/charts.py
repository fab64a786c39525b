"""Web, charts: results drawn as inline SVG on the server. Pure; nothing is fetched by the browser.

Bars for groups (each share with its 95% interval as a whisker), lines for days and weeks
(a shaded band for the interval). Suppressed groups are drawn as a note, never as a bar.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from ivr.results import Estimate

_FONT = 'font-family="system-ui, sans-serif" font-size="12"'


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def bars(title: str, items: Sequence[tuple[str, Estimate]], min_n: int, *,
         colour: str = "#2b6cb0", width: int = 640, few: str = "", withheld: str = "") -> str:
    """Return an SVG of horizontal bars, one per (label, estimate), whiskers for the interval.

    `few` and `withheld` are the notes drawn for a suppressed group, in the page's language."""
    label_w, bar_w, row_h, top = 180, width - 180 - 60, 22, 28
    height = top + row_h * max(1, len(items)) + 24
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" direction="ltr" role="img" '
           f'aria-label="{escape(title)}" {_FONT}>',
           f'<text x="0" y="16" font-weight="bold">{escape(title)}</text>']
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        x = label_w + tick * bar_w
        out.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{height - 20}" '
                   f'stroke="#ddd"/><text x="{x:.1f}" y="{height - 6}" text-anchor="middle" '
                   f'fill="#666">{_pct(tick)}</text>')
    for i, (label, est) in enumerate(items):
        y = top + i * row_h
        short = label if len(label) <= 26 else label[:25] + "…"
        out.append(f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end">{escape(short)}</text>')
        if est.value is None or est.low is None or est.high is None:
            why = ((few or f"fewer than {min_n} answers: not shown") if est.n < min_n
                   else (withheld or "withheld, so the total cannot give a smaller group away"))
            out.append(f'<text x="{label_w + 4}" y="{y + 14}" fill="#666">{escape(why)}</text>')
            continue
        out.append(f'<rect x="{label_w}" y="{y + 3}" width="{est.value * bar_w:.1f}" height="14" '
                   f'fill="{colour}"><title>{escape(label)}: {_pct(est.value)} '
                   f'({_pct(est.low)}–{_pct(est.high)}, n={est.n})</title></rect>')
        x1, x2 = label_w + est.low * bar_w, label_w + est.high * bar_w
        out.append(f'<line x1="{x1:.1f}" y1="{y + 10}" x2="{x2:.1f}" y2="{y + 10}" stroke="#111"/>'
                   f'<line x1="{x1:.1f}" y1="{y + 5}" x2="{x1:.1f}" y2="{y + 15}" stroke="#111"/>'
                   f'<line x1="{x2:.1f}" y1="{y + 5}" x2="{x2:.1f}" y2="{y + 15}" stroke="#111"/>')
        out.append(f'<text x="{label_w + bar_w + 4}" y="{y + 14}">{_pct(est.value)}</text>')
    out.append("</svg>")
    return "".join(out)


def lines(title: str, labels: Sequence[str], series: Sequence[tuple[str, str,
          Sequence[Estimate]]], *, width: int = 640, height: int = 240) -> str:
    """Return an SVG line chart over time: each series (name, colour, estimates) with its band."""
    left, right, top, bottom = 40, 24, 28, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    n = len(labels)

    def x(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        return top + plot_h * (1 - v)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" direction="ltr" role="img" '
           f'aria-label="{escape(title)}" {_FONT}>',
           f'<text x="0" y="16" font-weight="bold">{escape(title)}</text>']
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        out.append(f'<line x1="{left}" y1="{y(tick):.1f}" x2="{width - right}" y2="{y(tick):.1f}" '
                   f'stroke="#ddd"/><text x="{left - 4}" y="{y(tick) + 4:.1f}" text-anchor="end" '
                   f'fill="#666">{_pct(tick)}</text>')
    step = max(1, n // 8)
    for i in range(0, n, step):
        out.append(f'<text x="{x(i):.1f}" y="{height - bottom + 16}" text-anchor="middle" '
                   f'fill="#666">{escape(labels[i])}</text>')
    for k, (name, colour, points) in enumerate(series):
        runs: list[list[int]] = [[]]
        for i, est in enumerate(points):
            if est.value is None:
                if runs[-1]:
                    runs.append([])
            else:
                runs[-1].append(i)
        for run in (r for r in runs if r):
            band = ([f"{x(i):.1f},{y(points[i].high or 0):.1f}" for i in run]
                    + [f"{x(i):.1f},{y(points[i].low or 0):.1f}" for i in reversed(run)])
            out.append(f'<polygon points="{" ".join(band)}" fill="{colour}" fill-opacity="0.15"/>')
            path = " ".join(f"{x(i):.1f},{y(points[i].value or 0):.1f}" for i in run)
            out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
            for i in run:
                est = points[i]
                out.append(f'<circle cx="{x(i):.1f}" cy="{y(est.value or 0):.1f}" r="2.5" '
                           f'fill="{colour}"><title>{escape(name)} {escape(labels[i])}: '
                           f'{_pct(est.value or 0)} (n={est.n})</title></circle>')
        lx = left + 10 + 160 * k
        out.append(f'<rect x="{lx}" y="{height - 14}" width="12" height="4" fill="{colour}"/>'
                   f'<text x="{lx + 16}" y="{height - 9}">{escape(name)}</text>')
    out.append("</svg>")
    return "".join(out)


def hours(title: str, today: Sequence[tuple[str, str, Sequence[int]]],
          yesterday: Sequence[tuple[str, str, Sequence[int]]], *, hour_word: str = "",
          width: int = 640, height: int = 230) -> str:
    """Return an SVG of a day by hour: today's series as bars (name, colour, 24 counts), the
    day before's as lines over them, so an hour is read against the same hour yesterday."""
    left, right, top, bottom = 40, 12, 28, 46
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max([1, *(v for _, _, vs in [*today, *yesterday] for v in vs)])
    step = next(s for s in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10**4, 10**5,
                            10**6, 10**9) if peak / s <= 5)
    top_v = step * -(-peak // step)
    slot = plot_w / 24

    def y(v: float) -> float:
        return top + plot_h * (1 - v / top_v)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" direction="ltr" role="img" '
           f'aria-label="{escape(title)}" {_FONT}>',
           f'<text x="0" y="16" font-weight="bold">{escape(title)}</text>']
    for v in range(0, top_v + 1, step):
        out.append(f'<line x1="{left}" y1="{y(v):.1f}" x2="{width - right}" y2="{y(v):.1f}" '
                   f'stroke="#ddd"/><text x="{left - 4}" y="{y(v) + 4:.1f}" text-anchor="end" '
                   f'fill="#555">{v}</text>')
    for h in range(0, 24, 3):
        out.append(f'<text x="{left + slot * (h + 0.5):.1f}" y="{height - bottom + 14}" '
                   f'text-anchor="middle" fill="#555">{h:02d}</text>')
    if hour_word:
        out.append(f'<text x="{width - right}" y="{height - bottom + 14}" text-anchor="end" '
                   f'fill="#555">{escape(hour_word)}</text>')
    bar_w = slot * 0.8 / max(1, len(today))
    for k, (name, colour, values) in enumerate(today):
        for h, v in enumerate(values[:24]):
            if v:
                x = left + slot * h + slot * 0.1 + bar_w * k
                out.append(f'<rect x="{x:.1f}" y="{y(v):.1f}" width="{bar_w:.1f}" '
                           f'height="{y(0) - y(v):.1f}" fill="{colour}"><title>{escape(name)} '
                           f'{h:02d}:00: {v}</title></rect>')
    for name, colour, values in yesterday:
        path = " ".join(f"{left + slot * (h + 0.5):.1f},{y(v):.1f}"
                        for h, v in enumerate(values[:24]))
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2" '
                   f'stroke-dasharray="5 3"><title>{escape(name)}</title></polyline>')
    legend = [*((n, c, False) for n, c, _ in today), *((n, c, True) for n, c, _ in yesterday)]
    per_row = 2
    for i, (name, colour, dashed) in enumerate(legend):
        lx = left + (i % per_row) * (plot_w / per_row)
        ly = height - 22 + (i // per_row) * 14
        mark = (f'<line x1="{lx:.1f}" y1="{ly - 4}" x2="{lx + 14:.1f}" y2="{ly - 4}" '
                f'stroke="{colour}" stroke-width="2" stroke-dasharray="5 3"/>' if dashed else
                f'<rect x="{lx:.1f}" y="{ly - 9}" width="12" height="9" fill="{colour}"/>')
        out.append(f'{mark}<text x="{lx + 18:.1f}" y="{ly}">{escape(name)}</text>')
    out.append("</svg>")
    return "".join(out)
