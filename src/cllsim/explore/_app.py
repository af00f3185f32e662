"""The explorer as a Dash app: controls on the left, one figure of eight panels on the right.

Dash (Plotly) was chosen because its callbacks are plain Python functions of the controls, it
serves its JavaScript (plotly.js, React) from the installed package, so the app works offline
on 127.0.0.1, and the plotted data stays readable in the page (``gd.data`` of the graph), which
the browser test compares with ``cllsim.simulate``. Everything the figure shows comes from
:func:`cllsim.explore.compute_view`; this module only lays out controls and draws.
"""

from __future__ import annotations

import math
from typing import Any

from .._errors import CllsimError
from ..model import load_table
from ._view import (
    MAIN_PARAMETERS,
    PRESETS,
    View,
    compute_view,
    panel_observables,
    presets,
    python_call,
    view_from_controls,
)

HOSTS = ("patient", "tcl1", "xenograft")
DRUGS = ("ibrutinib", "acalabrutinib", "zanubrutinib", "pirtobrutinib")  # BTK inhibitors (a regimen may add venetoclax)
COLORS = {"A": "#1f77b4", "B": "#d62728"}
BAND_FILL = {"A": "rgba(31,119,180,0.15)", "B": "rgba(214,39,40,0.15)"}
#: Slider positions per decade (log rows) or per range (linear rows).
SLIDER_STEPS = 200


def _is_log(scale: str) -> bool:
    return scale != "lin"


def _to_slider(value: float, scale: str) -> float:
    return math.log10(value) if _is_log(scale) else value


def _from_slider(position: float, scale: str) -> float:
    return float(f"{10**position:.4g}") if _is_log(scale) else float(f"{position:.4g}")


def parameter_controls(host: str, drug: str, ighv: str) -> list[Any]:
    """One row per main parameter the host has: label with unit, slider on the row's scale, number box."""
    from dash import dcc, html

    from ..simulate import Patient, patient_values

    table = load_table(host=host, drug=drug)
    nominal = patient_values(Patient(ighv=ighv), host, table, drug)
    rows = []
    for pid in MAIN_PARAMETERS:
        if pid not in table.rows:
            continue
        row = table.rows[pid]
        lo, hi = _to_slider(row.lowerBound if row.lowerBound > 0 or not _is_log(row.parameterScale) else 1e-12,
                            row.parameterScale), _to_slider(row.upperBound, row.parameterScale)
        value = nominal[pid]
        rows.append(html.Div([
            html.Label([html.Span(row.parameterName, title=pid), html.Span(f" ({row.unit})", className="unit")],
                       htmlFor=f"input-{pid}"),
            html.Div([
                dcc.Slider(id={"type": "param-slider", "id": pid}, min=lo, max=hi, step=(hi - lo) / SLIDER_STEPS,
                           value=_to_slider(value, row.parameterScale), marks=None, updatemode="mouseup",
                           allow_direct_input=False, className="param-slider"),
                dcc.Input(id={"type": "param-input", "id": pid}, type="number", value=value, debounce=True,
                          className="param-input", name=pid),
            ], className="param-row"),
            html.Div(f"bounds {row.lowerBound:g} to {row.upperBound:g} {row.unit}"
                     f"{'; log scale' if _is_log(row.parameterScale) else ''}", className="bounds"),
        ], className="param"))
    return rows


def _figure(result: Any, host: str) -> Any:
    from plotly.subplots import make_subplots

    panels = panel_observables(host)
    ncols = 4
    nrows = math.ceil(len(panels) / ncols)
    fig = make_subplots(rows=nrows, cols=ncols, subplot_titles=[f"{t} ({u})" for _, t, _, u in panels],
                        horizontal_spacing=0.06, vertical_spacing=0.14)
    data = result.data
    for k, (oid, _title, log, _unit) in enumerate(panels):
        r, c = k // ncols + 1, k % ncols + 1
        for label in dict.fromkeys(data["panel"]):
            sel = data[(data["panel"] == label) & (data["observable"] == oid)]
            regimen = sel["regimen"].iloc[0] if len(sel) else ""
            ighv = sel["ighv"].iloc[0] if len(sel) else ""
            band = {s: sel[sel["series"] == s] for s in ("p5", "p50", "p95")}
            if len(band["p50"]):
                meta = {"panel": label, "observable": oid, "regimen": regimen, "ighv": ighv}
                fig.add_scatter(x=band["p95"]["time_day"].tolist(), y=band["p95"]["value"].tolist(), mode="lines",
                                line={"width": 0}, showlegend=False, hoverinfo="skip", row=r, col=c,
                                meta={**meta, "series": "p95"})
                fig.add_scatter(x=band["p5"]["time_day"].tolist(), y=band["p5"]["value"].tolist(), mode="lines",
                                line={"width": 0}, fill="tonexty", fillcolor=BAND_FILL[label], showlegend=False,
                                hoverinfo="skip", row=r, col=c, meta={**meta, "series": "p5"})
                fig.add_scatter(x=band["p50"]["time_day"].tolist(), y=band["p50"]["value"].tolist(), mode="lines",
                                line={"color": COLORS[label], "dash": "dot", "width": 1.2},
                                name=f"{label}: cohort median, 5-95%", legendgroup=f"{label}-band",
                                showlegend=k == 0, row=r, col=c, meta={**meta, "series": "p50"})
            pat = sel[sel["series"] == "patient"]
            fig.add_scatter(x=pat["time_day"].tolist(), y=pat["value"].tolist(), mode="lines",
                            line={"color": COLORS[label], "width": 2}, name=f"{label}: {regimen}, {ighv}-CLL",
                            legendgroup=label, showlegend=k == 0, row=r, col=c,
                            meta={"panel": label, "observable": oid, "regimen": regimen, "ighv": ighv,
                                  "series": "patient"})
        if log:
            fig.update_yaxes(type="log", row=r, col=c)
        fig.update_xaxes(title_text="day" if r == nrows else None, row=r, col=c)
    fig.update_layout(height=330 * nrows + 80, margin={"l": 40, "r": 10, "t": 60, "b": 40},
                      legend={"orientation": "h", "y": 1.08, "x": 0}, template="plotly_white",
                      uirevision="keep-zoom")
    fig.update_annotations(font_size=12)
    return fig


_CSS = """
body { font-family: system-ui, sans-serif; margin: 0; }
.app { display: flex; gap: 12px; padding: 10px; }
.controls { width: 330px; flex: none; font-size: 13px; }
.controls h1 { font-size: 18px; margin: 4px 0 8px 0; }
.controls label { font-weight: 600; display: block; margin-top: 6px; }
.unit, .bounds { color: #666; font-weight: 400; font-size: 11px; }
.param-row { display: flex; align-items: center; gap: 6px; }
.param-slider { flex: 1; }
.param-input { width: 90px; }
.main { flex: 1; min-width: 0; }
.error { color: #b00020; font-weight: 600; min-height: 1.2em; white-space: pre-wrap; }
.note { color: #555; font-size: 12px; }
input[type=text] { width: 100%; box-sizing: border-box; }
"""


def make_app(*, warm_up: bool = True) -> Any:
    """The Dash app (not started). ``warm_up`` compiles the cohort engine for the default view now.

    Raises
    ------
    ModuleNotFoundError
        If Dash (the ``explore`` extra) is not installed.
    """
    import dash
    from dash import ALL, MATCH, Input, Output, State, ctx, dcc, html

    if warm_up:  # compile (or load from the cache) every host's cohort engine once, now
        for host in HOSTS:
            compute_view(View(host=host, regimens=(presets(host, "ibrutinib")[0],), days=2))
    app = dash.Dash(__name__, title="cllsim explorer", update_title="")
    app.index_string = app.index_string.replace("{%css%}", "{%css%}<style>" + _CSS + "</style>")
    app.layout = html.Div([
        html.Div([
            html.H1("cllsim explorer"),
            html.Label("host", htmlFor="host"),
            dcc.Dropdown(id="host", options=list(HOSTS), value="patient", clearable=False),
            html.Label("drug", htmlFor="drug"),
            dcc.Dropdown(id="drug", options=list(DRUGS), value="ibrutinib", clearable=False),
            html.Label("IGHV"),
            dcc.RadioItems(id="ighv", options=[{"label": " U-CLL (unmutated)", "value": "U"},
                                               {"label": " M-CLL (mutated)", "value": "M"}], value="U", inline=True),
            html.Label("regimen A", htmlFor="regimen-a"),
            dcc.Dropdown(id="preset-a", options=list(PRESETS["ibrutinib"]), placeholder="presets"),
            dcc.Input(id="regimen-a", type="text", value="420 mg qd", debounce=True),
            dcc.Checklist(id="compare", options=[{"label": " compare with regimen B", "value": "yes"}], value=[]),
            dcc.Dropdown(id="preset-b", options=list(PRESETS["ibrutinib"]), placeholder="presets"),
            dcc.Input(id="regimen-b", type="text", value="560 mg qd", debounce=True),
            html.Div([html.Span("patient B: IGHV "),
                      dcc.RadioItems(id="ighv-b", options=[{"label": " as A", "value": ""},
                                                           {"label": " U", "value": "U"},
                                                           {"label": " M", "value": "M"}],
                                     value="", inline=True, style={"display": "inline-block"})]),
            html.Label("follow-up (days)", htmlFor="days"),
            dcc.Input(id="days", type="number", value=365, min=1, max=3650, debounce=True),
            dcc.Checklist(id="cohort", options=[{"label": " virtual cohort: median and 5-95% band",
                                                 "value": "yes"}], value=[]),
            html.Div([html.Span("patients "), dcc.Input(id="cohort-n", type="number", value=20, min=2, max=500,
                                                         debounce=True, style={"width": "70px"}),
                      html.Span(" seed "), dcc.Input(id="seed", type="number", value=0, min=0, debounce=True,
                                                     style={"width": "60px"})]),
            html.H3("patient parameters", style={"fontSize": "14px", "marginBottom": "0"}),
            html.Div(id="params", children=parameter_controls("patient", "ibrutinib", "U")),
            html.Div([html.Button("download CSV", id="btn-csv"), " ",
                      html.Button("download Python call", id="btn-py")], style={"marginTop": "10px"}),
            dcc.Download(id="download-csv"),
            dcc.Download(id="download-py"),
        ], className="controls"),
        html.Div([
            html.Div(id="error", className="error", role="alert"),
            html.Div(id="status", className="note"),
            dcc.Loading(dcc.Graph(id="panel", config={"displaylogo": False}), delay_show=600),
            html.Details([html.Summary("Python call reproducing this view"), html.Pre(id="code")]),
            dcc.Store(id="view-data"),
        ], className="main"),
    ], className="app")

    @app.callback(Output("params", "children"), Input("host", "value"), Input("drug", "value"),
                  Input("ighv", "value"), prevent_initial_call=True)
    def _reset_parameters(host: str, drug: str, ighv: str) -> Any:
        try:
            return parameter_controls(host, drug, ighv)
        except CllsimError:
            return dash.no_update  # the main callback reports the problem

    @app.callback(Output({"type": "param-input", "id": MATCH}, "value"),
                  Output({"type": "param-slider", "id": MATCH}, "value"),
                  Input({"type": "param-input", "id": MATCH}, "value"),
                  Input({"type": "param-slider", "id": MATCH}, "value"),
                  State("host", "value"), State("drug", "value"), prevent_initial_call=True)
    def _sync(number: Any, position: Any, host: str, drug: str) -> Any:
        pid = ctx.triggered_id["id"]
        scale = load_table(host=host, drug=drug).rows[pid].parameterScale if pid else "lin"
        if ctx.triggered_id["type"] == "param-slider":
            return _from_slider(float(position), scale), dash.no_update
        try:
            v = float(number)
            return dash.no_update, _to_slider(v, scale) if v > 0 or not _is_log(scale) else dash.no_update
        except (TypeError, ValueError):
            return dash.no_update, dash.no_update  # the main callback names the problem

    for side in ("a", "b"):
        @app.callback(Output(f"regimen-{side}", "value"), Input(f"preset-{side}", "value"),
                      prevent_initial_call=True)
        def _preset(value: str | None) -> Any:
            return value if value else dash.no_update

        @app.callback(Output(f"preset-{side}", "options"), Input("host", "value"), Input("drug", "value"))
        def _presets(host: str, drug: str) -> Any:
            return list(presets(host, drug))

    @app.callback(
        Output("panel", "figure"), Output("error", "children"), Output("status", "children"),
        Output("code", "children"), Output("view-data", "data"),
        Input("host", "value"), Input("drug", "value"), Input("ighv", "value"), Input("regimen-a", "value"),
        Input("regimen-b", "value"), Input("compare", "value"), Input("days", "value"), Input("cohort", "value"),
        Input("cohort-n", "value"), Input("seed", "value"), Input("ighv-b", "value"),
        Input({"type": "param-input", "id": ALL}, "value"), State({"type": "param-input", "id": ALL}, "id"),
    )
    def _update(host: str, drug: str, ighv: str, regimen_a: str, regimen_b: str, compare: list[str], days: Any,
                cohort: list[str], cohort_n: Any, seed: Any, ighv_b: str, values: list[Any],
                ids: list[dict[str, str]]) -> Any:
        controls = {"host": host, "drug": drug, "ighv": ighv, "regimen_a": regimen_a, "regimen_b": regimen_b,
                    "compare": bool(compare), "days": days, "cohort": bool(cohort), "cohort_n": cohort_n,
                    "seed": seed, "ighv_b": ighv_b}
        try:
            view = view_from_controls(controls, {i["id"]: v for i, v in zip(ids, values, strict=True)})
            result = compute_view(view)
        except CllsimError as exc:
            # keep the last figure; say what is wrong next to it
            return dash.no_update, str(exc), dash.no_update, dash.no_update, dash.no_update
        except Exception as exc:  # noqa: BLE001 - never a traceback page; the message is enough to report
            return dash.no_update, f"internal error ({type(exc).__name__}): {exc}", dash.no_update, dash.no_update, \
                dash.no_update
        status = f"computed in {result.seconds:.2f} s (cohort engine)" + "".join(f"; {n}" for n in result.notes)
        store = {"csv": result.data.to_csv(index=False), "code": python_call(view), "view": view.model_dump()}
        return _figure(result, view.host), "", status, store["code"], store

    @app.callback(Output("download-csv", "data"), Input("btn-csv", "n_clicks"), State("view-data", "data"),
                  prevent_initial_call=True)
    def _csv(_: int, data: dict[str, Any] | None) -> Any:
        return dash.no_update if not data else {"content": data["csv"], "filename": "cllsim_view.csv"}

    @app.callback(Output("download-py", "data"), Input("btn-py", "n_clicks"), State("view-data", "data"),
                  prevent_initial_call=True)
    def _py(_: int, data: dict[str, Any] | None) -> Any:
        return dash.no_update if not data else {"content": data["code"], "filename": "cllsim_view.py"}

    return app


def serve(port: int = 8050, *, warm_up: bool = True) -> None:
    """Start the explorer on http://127.0.0.1:``port`` (blocks until interrupted).

    Only the loopback interface is bound: the app has no authentication.
    """
    app = make_app(warm_up=warm_up)
    app.run(host="127.0.0.1", port=port, debug=False)
