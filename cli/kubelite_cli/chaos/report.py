"""A chaos run's report a person reads at a glance (pure): one HTML page, per scenario its verdicts
and an SVG timeline of Service requests and errors per second and availability, with the
fault's start and end and the moment replicas converged marked.

Example: a 40 s scenario whose fault ran from 5 s to 15 s draws 40 one-second buckets, green
answered requests, red failures, a blue availability line (answered / asked), and dashed lines at
5 s (fault), 15 s (recovery) and, say, 17.2 s (converged).
"""

from __future__ import annotations

import html
import math
import statistics
from dataclasses import dataclass, field

from kubelite_cli.chaos.invariants import Request, Verdict, Window

WIDTH, HEIGHT, PAD = 900, 220, 36


@dataclass(frozen=True)
class ScenarioResult:
    name: str
    description: str
    requests: list[Request]
    window: Window
    verdicts: list[Verdict]
    duration: float
    # seconds: "converge" (recovery -> replicas whole), "detected" (fault -> a lost host's pods out
    # of the Service's Endpoints), "replaced" (fault -> a lost host's pods Running elsewhere),
    # "write gap" (longest time without an acknowledged write)
    figures: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(v.ok for v in self.verdicts)


def buckets(requests: list[Request], duration: float) -> list[tuple[int, int]]:
    """(answered, failed) per second of the run."""
    out = [[0, 0] for _ in range(max(1, math.ceil(duration)))]
    for r in requests:
        i = min(len(out) - 1, max(0, int(r.at)))
        out[i][0 if r.ok else 1] += 1
    return [(a, f) for a, f in out]


def timeline_svg(result: ScenarioResult) -> str:
    data = buckets(result.requests, result.duration)
    n = len(data)
    top = max(1, max(a + f for a, f in data))
    inner_w, inner_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD

    def x(t: float) -> float:
        return PAD + inner_w * t / max(1, n)

    def y(v: float, scale: float) -> float:
        return PAD + inner_h * (1 - v / scale)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="timeline of {html.escape(result.name)}">',
             f'<rect x="{PAD}" y="{PAD}" width="{inner_w}" height="{inner_h}" fill="#fafafa" stroke="#ccc"/>']
    bar = inner_w / n
    for i, (answered, failed) in enumerate(data):
        h_ok, h_bad = inner_h * answered / top, inner_h * failed / top
        parts.append(f'<rect x="{x(i):.1f}" y="{PAD + inner_h - h_ok:.1f}" width="{bar * 0.9:.1f}" '
                     f'height="{h_ok:.1f}" fill="#4caf50"><title>{i}s: {answered} answered</title></rect>')
        if failed:
            parts.append(f'<rect x="{x(i):.1f}" y="{PAD + inner_h - h_ok - h_bad:.1f}" width="{bar * 0.9:.1f}" '
                         f'height="{h_bad:.1f}" fill="#e53935"><title>{i}s: {failed} failed</title></rect>')
    points = " ".join(f"{x(i + 0.5):.1f},{y(a / (a + f) if a + f else 1.0, 1.0):.1f}" for i, (a, f) in enumerate(data))
    parts.append(f'<polyline points="{points}" fill="none" stroke="#1e88e5" stroke-width="2"/>')
    w = result.window
    for at, label, color in ((w.fault_start, "fault", "#e53935"), (w.fault_end, "recovery", "#43a047"),
                             (w.converged_at, "converged", "#1e88e5")):
        if at is None:
            continue
        parts.append(f'<line x1="{x(at):.1f}" y1="{PAD}" x2="{x(at):.1f}" y2="{PAD + inner_h}" stroke="{color}" '
                     f'stroke-dasharray="4 3"/><text x="{x(at) + 3:.1f}" y="{PAD - 6}" font-size="11" '
                     f'fill="{color}">{label} {at:.1f}s</text>')
    parts.append(f'<text x="{PAD}" y="{HEIGHT - 10}" font-size="11">0 s</text>'
                 f'<text x="{WIDTH - PAD - 30}" y="{HEIGHT - 10}" font-size="11">{n} s</text>'
                 f'<text x="4" y="{PAD + 10}" font-size="11">{top}/s</text>')
    parts.append("</svg>")
    return "".join(parts)


FIGURES = ("converge", "detected", "replaced", "write gap")


def summary(results: list[ScenarioResult]) -> list[list[str]]:
    """One row per scenario over repeated runs: passed/runs and the median of each figure.

    Example: kill-apiserver run 3 times, all passed, write gaps 1.2, 2.0 and 1.5 s ->
    `["kill-apiserver", "3/3", "0.1", "-", "-", "1.5"]`."""
    rows: dict[str, list[ScenarioResult]] = {}
    for r in results:
        rows.setdefault(r.name, []).append(r)
    out = []
    for name, runs in rows.items():
        medians = []
        for fig in FIGURES:
            values = [r.figures[fig] for r in runs if fig in r.figures]
            medians.append(f"{statistics.median(values):.1f}" if values else "-")
        out.append([name, f"{sum(r.ok for r in runs)}/{len(runs)}", *medians])
    return out


def render(results: list[ScenarioResult], *, lab: str, started: str) -> str:
    passed = sum(r.ok for r in results)
    sections = []
    for r in results:
        verdicts = "".join(f'<li class="{"pass" if v.ok else "fail"}">{html.escape(v.line())}</li>' for v in r.verdicts)
        sections.append(
            f'<section><h2 class="{"pass" if r.ok else "fail"}">{"✔" if r.ok else "✘"} {html.escape(r.name)}</h2>'
            f"<p>{html.escape(r.description)}</p><ul>{verdicts}</ul>{timeline_svg(r)}</section>")
    return (
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>kubelite chaos report</title><style>"
        "body{font-family:sans-serif;margin:2em;max-width:960px}.pass{color:#2e7d32}.fail{color:#c62828}"
        "li{font-family:monospace}section{border-top:1px solid #ddd;padding-top:1em}</style></head><body>"
        f"<h1>kubelite chaos report</h1><p>lab {html.escape(lab)}, started {html.escape(started)}: "
        f"<b>{passed}/{len(results)} scenarios passed</b>. Green: Service requests answered per second; red: "
        "failed; blue line: availability (0–100 %); dashed: fault, recovery, convergence. "
        "The raw samples are in events.json.</p>"
        + _summary_table(results) + "".join(sections) + "</body></html>\n"
    )


def _summary_table(results: list[ScenarioResult]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in ("scenario", "passed", *(f"{f} (median s)" for f in FIGURES)))
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in summary(results))
    return f"<table><tr>{head}</tr>{rows}</table>"
