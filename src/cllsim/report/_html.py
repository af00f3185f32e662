"""One self-contained HTML report of the in-silico experiments (figures embedded as PNG).

The report knows experiment results only by the attributes it shows
(:class:`ReportedExperiment`), so this package does not depend on :mod:`cllsim.experiments`.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import json
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


_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1180px;color:#222;
line-height:1.4}
h1{font-size:1.6em;margin-bottom:.2em} h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.86em;width:100%}
th,td{border:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f4f4f4} td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.pass{color:#1e8449;font-weight:600} .fail{color:#c0392b;font-weight:600}
.finding{background:#f7f9fb;border-left:4px solid #2471a3;padding:.5em .8em}
.meta{color:#666;font-size:.85em} img{max-width:100%;border:1px solid #eee}
details{margin:.4em 0} pre{background:#f7f7f7;padding:.6em;overflow-x:auto;font-size:.8em}
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


def figure_png_base64(fig: Any, dpi: int = 110) -> str:
    """Render a matplotlib figure to base64 PNG (closing it if pyplot made it)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:  # a figure made through pyplot stays open until closed; others need nothing
        pyplot.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


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


def render_report(results: Sequence[ReportedExperiment], *, runtime_s: float | None = None) -> str:
    """HTML text of the report: overview table of every check, then one section per experiment."""
    from .. import __version__

    checks = [{"experiment": r.id, **c.as_row()} for r in results for c in r.checks]
    n_fail = sum(not c["passed"] for c in checks)
    created = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    status = (f'<span class="pass">all {len(checks)} checks pass</span>' if not n_fail
              else f'<span class="fail">{n_fail} of {len(checks)} checks fail</span>')
    out = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>cllsim: the study reproduced</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>cllsim — the study's findings reproduced in silico</h1>",
        f"<p class='meta'>cllsim {__version__} · created {created}"
        + (f" · run time {runtime_s:.0f} s" if runtime_s is not None else "") + f" · {status}</p>",
        "<p>Each experiment states the study's finding, its protocol, the simulated readout as the lab measures "
        "it, a figure and its checks (expected direction and minimum size, the simulated value, the source). "
        "Sizes marked <em>prediction</em> are what the model predicts where the study gives no number.</p>",
        "<h2>All checks</h2>",
        _table(checks, ["experiment", "check", "claim", "expected", "simulated", "unit", "passed", "source"]),
    ]
    for r in results:
        fig = r.plot()
        png = figure_png_base64(fig)
        out += [
            f"<h2 id='{r.id}'>{html.escape(r.id)} · {html.escape(r.title)}</h2>",
            f"<p class='finding'><b>Finding.</b> {html.escape(r.finding)}</p>",
            _description_html(r.description),
            f"<img alt='{html.escape(r.id)} figure' src='data:image/png;base64,{png}'>",
            "<h3>Checks</h3>",
            _table([c.as_row() for c in r.checks],
                   ["check", "claim", "expected", "simulated", "unit", "passed", "source"]),
        ]
        if r.summary:
            out += ["<h3>Key numbers</h3>", _summary_html(r.summary)]
        out += [
            "<details><summary>Protocol and provenance</summary>",
            f"<pre>{html.escape(json.dumps({'protocol': r.protocol, 'metadata': r.metadata}, indent=2, default=str))}"
            "</pre></details>",
        ]
    out.append("</body></html>")
    return "\n".join(out)


def write_report(results: Sequence[ReportedExperiment], path: str | Path, *, runtime_s: float | None = None) -> Path:
    """Write the self-contained HTML report to ``path``."""
    path = Path(path)
    path.write_text(render_report(results, runtime_s=runtime_s), encoding="utf-8")
    return path
