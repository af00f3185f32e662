"""One self-contained HTML report of the in-silico experiments (figures embedded as PNG).

The report knows experiment results only by the attributes it shows
(:class:`ReportedExperiment`), so this package does not depend on :mod:`cllsim.experiments`.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol


class ReportedCheck(Protocol):
    """A check as the report shows it (e.g. :class:`cllsim.experiments.Check`)."""

    @property
    def passed(self) -> bool: ...

    def as_row(self) -> dict[str, Any]:
        """``check, claim, expected, simulated, unit, passed, source``."""
        ...


class ReportedExperiment(Protocol):
    """What the report needs of an experiment's result (e.g. :class:`cllsim.experiments.ExperimentResult`)."""

    @property
    def id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def finding(self) -> str: ...
    @property
    def description(self) -> str:
        """Protocol and mechanism in words: paragraphs separated by blank lines."""
        ...
    @property
    def protocol(self) -> Mapping[str, Any]: ...
    @property
    def checks(self) -> Sequence[ReportedCheck]: ...
    @property
    def summary(self) -> Mapping[str, Any]: ...
    @property
    def metadata(self) -> Mapping[str, Any]: ...

    def plot(self) -> Any:
        """The experiment's matplotlib figure."""
        ...


#: Resolution of the report's figures, dots per inch (1.5 x the 96 CSS pixels per inch: sharp on
#: high-density screens, and room to enlarge a figure that the page shows shrunk).
REPORT_DPI = 144
#: CSS pixels per inch of figure: a figure is shown at its drawn size (its 10-point labels at
#: 10 points) unless wider than the page.
CSS_PX_PER_INCH = 96
#: Width of the page's text column, CSS pixels; wider figures are shown shrunk, a click enlarges them.
PAGE_WIDTH_PX = 1180

_CSS = f"""
body{{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:{PAGE_WIDTH_PX}px;
color:#222;line-height:1.4;padding:0 1em}}
h1{{font-size:1.6em;margin-bottom:.2em}} h2{{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}}
table{{border-collapse:collapse;margin:.6em 0;font-size:.86em;width:100%}}
th,td{{border:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:top}}
th{{background:#f4f4f4}} td.num{{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}}
.pass{{color:#1e8449;font-weight:600}} .fail{{color:#c0392b;font-weight:600}}
.finding{{background:#f7f9fb;border-left:4px solid #2471a3;padding:.5em .8em}}
.meta{{color:#666;font-size:.85em}}
#summary{{background:#f7f9fb;border:1px solid #dde4ea;padding:.2em 1em .8em}} #summary h2{{margin-top:.6em}}
#summary dl{{display:grid;grid-template-columns:max-content 1fr;gap:.15em 1em;margin:.6em 0}}
#summary dt{{font-weight:600}} #summary dd{{margin:0}}
nav#contents ol{{columns:2;margin:.4em 0}}
figure{{margin:1em 0;overflow-x:auto}} figcaption{{color:#666;font-size:.8em}}
img.fig{{max-width:100%;height:auto;box-sizing:border-box;border:1px solid #eee;cursor:zoom-in}}
img.fig.zoomed{{max-width:none;width:auto;cursor:zoom-out}}
details{{margin:.4em 0}} pre{{background:#f7f7f7;padding:.6em;overflow-x:auto;font-size:.8em}}
"""


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float | int):
        return f"{v:.4g}"
    return html.escape(str(v))


def _table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    if not rows:
        return "<p>(none)</p>"
    cols = list(columns or rows[0].keys())
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = []
    for r in rows:
        cells = []
        for c in cols:
            v = r.get(c, "")
            if c == "passed":
                cells.append(f'<td class="{"pass" if v else "fail"}">{"PASS" if v else "FAIL"}</td>')
            elif isinstance(v, float | int) and not isinstance(v, bool):
                cells.append(f'<td class="num">{_fmt(v)}</td>')
            else:
                cells.append(f"<td>{_fmt(v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def figure_png_base64(fig: Any, dpi: int = REPORT_DPI) -> str:
    """Render a matplotlib figure to base64 PNG (closing it if pyplot made it)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:  # a figure made through pyplot stays open until closed; others need nothing
        pyplot.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def figure_html(fig: Any, alt: str, caption: str = "") -> str:
    """A ``<figure>`` of ``fig`` at :data:`REPORT_DPI`, shown at its drawn size (inches x 96 CSS px).

    The ``width``/``height`` attributes give the drawn size, so every figure of a report shows its
    labels at one size; a figure wider than the page is shown shrunk, and a click shows it at its
    full resolution (a click again shrinks it back).
    """
    w_in, h_in = (float(v) for v in fig.get_size_inches())  # before savefig, which may close it
    png = figure_png_base64(fig, dpi=REPORT_DPI)
    w, h = round(w_in * CSS_PX_PER_INCH), round(h_in * CSS_PX_PER_INCH)
    shrunk = w > PAGE_WIDTH_PX
    note = " Click to enlarge." if shrunk else ""
    cap = f"<figcaption>{html.escape(caption)}{note}</figcaption>" if caption or note else ""
    return (
        f"<figure><img class='fig' alt='{html.escape(alt)}' width='{w}' height='{h}' data-dpi='{REPORT_DPI}' "
        f"onclick=\"this.classList.toggle('zoomed')\" src='data:image/png;base64,{png}'>{cap}</figure>"
    )


def _summary_html(summary: Mapping[str, Any]) -> str:
    scalars = [{"quantity": k, "value": v} for k, v in summary.items() if not isinstance(v, list | dict)]
    parts = [_table(scalars)] if scalars else []
    for k, v in summary.items():
        if isinstance(v, list) and v and isinstance(v[0], Mapping):
            parts.append(f"<h4>{html.escape(k)}</h4>{_table(v)}")
    return "".join(parts)


def _description_html(text: str) -> str:
    """Paragraphs (separated by blank lines) as HTML paragraphs."""
    paras = [" ".join(p.split()) for p in text.split("\n\n") if p.strip()]
    return "".join(f"<p>{html.escape(p)}</p>" for p in paras)


def _anchor(text: str) -> str:
    """An HTML id made of ``text`` (letters, digits, ``-`` and ``_`` kept)."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "section"


def _seeds(results: Sequence[ReportedExperiment]) -> str:
    seeds = sorted({str(r.metadata.get("seed")) for r in results if r.metadata.get("seed") is not None})
    return ", ".join(seeds) if seeds else "none (every experiment is deterministic)"


def _overrides(results: Sequence[ReportedExperiment]) -> str:
    merged: dict[str, Any] = {}
    for r in results:
        merged.update(dict(r.metadata.get("overrides") or {}))
    return ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(merged.items())) or "none (the packaged tables)"


def _headline(r: ReportedExperiment) -> str:
    """The first check of an experiment as one phrase: claim, simulated value, expectation."""
    if not r.checks:
        return ""
    row = r.checks[0].as_row()
    unit = f" {row.get('unit')}" if row.get("unit") else ""
    return f"{_fmt(row.get('claim', ''))}: {_fmt(row.get('simulated', ''))}{html.escape(unit)} " \
           f"(expected {_fmt(row.get('expected', ''))})"


def render_report(
    results: Sequence[ReportedExperiment], *, runtime_s: float | None = None, command: str | None = None
) -> str:
    """HTML text of the report.

    It opens with a summary (what was run, cllsim version, seeds, parameter overrides, checks
    passed and failed, each experiment's headline number) and a table of contents linking each
    section, then the table of every check, then one section per experiment (finding, protocol,
    figure, checks, key numbers, provenance).

    Parameters
    ----------
    results
        The experiments' results, in report order.
    runtime_s
        Wall time of the run, seconds (shown in the summary).
    command
        The command line that made the report (shown in the summary).
    """
    from .. import __version__
    from ..execution import json_text

    checks = [{"experiment": r.id, **c.as_row()} for r in results for c in r.checks]
    n_fail = sum(not c["passed"] for c in checks)
    n_exp_fail = sum(any(not c.passed for c in r.checks) for r in results)
    created = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    status = (f'<span class="pass">all {len(checks)} checks pass</span>' if not n_fail
              else f'<span class="fail">{n_fail} of {len(checks)} checks fail</span>')
    anchors = {r.id: _anchor(r.id) for r in results}
    facts = [
        ("Run", html.escape(command) if command else f"{len(results)} in-silico experiment(s)"),
        ("Experiments", ", ".join(f"<a href='#{anchors[r.id]}'>{html.escape(r.id)}</a>" for r in results) or "none"),
        ("cllsim version", html.escape(str(__version__))),
        ("Random seed", html.escape(_seeds(results))),
        ("Parameter overrides", _overrides(results)),
        ("Checks", f"<span class='n-pass'>{len(checks) - n_fail}</span> passed, "
                   f"<span class='n-fail'>{n_fail}</span> failed, of {len(checks)} · {status}"),
        ("Experiments passing", f"{len(results) - n_exp_fail} of {len(results)}"),
        ("Created", f"{created}" + (f" · run time {runtime_s:.0f} s" if runtime_s is not None else "")),
    ]
    key_rows = [
        {"experiment": r.id, "title": r.title,
         "checks passed": f"{sum(c.passed for c in r.checks)}/{len(r.checks)}", "headline": _headline(r)}
        for r in results
    ]
    toc = ["<li><a href='#summary'>Summary</a></li>", "<li><a href='#all-checks'>All checks</a></li>"]
    toc += [
        f"<li><a href='#{anchors[r.id]}'>{html.escape(r.id)} · {html.escape(r.title)}</a> "
        f"<span class='{'pass' if all(c.passed for c in r.checks) else 'fail'}'>"
        f"{'PASS' if all(c.passed for c in r.checks) else 'FAIL'}</span></li>"
        for r in results
    ]
    out = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>cllsim: the study reproduced</title><style>{_CSS}</style></head><body>",
        "<h1>cllsim — the study's findings reproduced in silico</h1>",
        "<section id='summary'><h2>Summary</h2><dl>",
        "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts),
        "</dl><h3>Key numbers</h3>",
        # the headline is made of escaped parts already
        _key_table(key_rows, anchors),
        "<p>Each experiment states the study's finding, its protocol, the simulated readout as the lab measures "
        "it, a figure and its checks (expected direction and minimum size, the simulated value, the source). "
        "Sizes marked <em>prediction</em> are what the model predicts where the study gives no number.</p>",
        "</section>",
        f"<nav id='contents'><h2>Contents</h2><ol>{''.join(toc)}</ol></nav>",
        "<h2 id='all-checks'>All checks</h2>",
        _table(checks, ["experiment", "check", "claim", "expected", "simulated", "unit", "passed", "source"]),
    ]
    for r in results:
        out += [
            f"<section><h2 id='{anchors[r.id]}'>{html.escape(r.id)} · {html.escape(r.title)}</h2>",
            f"<p class='finding'><b>Finding.</b> {html.escape(r.finding)}</p>",
            _description_html(r.description),
            figure_html(r.plot(), alt=f"{r.id} figure", caption=f"Figure {r.id}. {r.title}."),
            "<h3>Checks</h3>",
            _table([c.as_row() for c in r.checks],
                   ["check", "claim", "expected", "simulated", "unit", "passed", "source"]),
        ]
        if r.summary:
            out += ["<h3>Key numbers</h3>", _summary_html(r.summary)]
        out += [
            "<details><summary>Protocol and provenance</summary>",
            f"<pre>{html.escape(json_text({'protocol': r.protocol, 'metadata': r.metadata}))}</pre></details>",
            "<p class='meta'><a href='#contents'>back to contents</a></p></section>",
        ]
    out.append("</body></html>")
    return "\n".join(out)


def _key_table(rows: Sequence[Mapping[str, Any]], anchors: Mapping[str, str]) -> str:
    """The summary's table: one row per experiment, linked to its section, with its headline check."""
    head = "".join(f"<th>{c}</th>" for c in ("experiment", "title", "checks passed", "headline (first check)"))
    body = []
    for r in rows:
        passed, total = (int(v) for v in str(r["checks passed"]).split("/"))
        cls = "pass" if passed == total else "fail"
        body.append(
            f"<tr><td><a href='#{anchors[r['experiment']]}'>{html.escape(r['experiment'])}</a></td>"
            f"<td>{html.escape(r['title'])}</td><td class='num {cls}'>{passed}/{total}</td>"
            f"<td>{r['headline']}</td></tr>"
        )
    return f"<table class='key-numbers'><tr>{head}</tr>{''.join(body)}</table>"


def write_report(
    results: Sequence[ReportedExperiment], path: str | Path, *, runtime_s: float | None = None,
    command: str | None = None,
) -> Path:
    """Write the self-contained HTML report (:func:`render_report`) to ``path``."""
    path = Path(path)
    path.write_text(render_report(results, runtime_s=runtime_s, command=command), encoding="utf-8")
    return path
