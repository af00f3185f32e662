"""The HTML report renders any result with the reported attributes; it does not need the experiments."""

from __future__ import annotations

import base64
import struct
import subprocess
import sys
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from matplotlib.figure import Figure

from cllsim.report import render_report


@dataclass(frozen=True)
class _Check:
    passed: bool

    def as_row(self) -> dict[str, Any]:
        return {"check": "X1.size", "claim": "big enough", "expected": "size > 1", "simulated": 2.5,
                "unit": "", "passed": self.passed, "source": "a test"}


@dataclass(frozen=True)
class _Result:
    id: str = "X1"
    title: str = "A made-up experiment"
    finding: str = "Things <grow>."
    description: str = "First paragraph\nof the protocol.\n\nSecond paragraph."
    protocol: dict[str, Any] = field(default_factory=lambda: {"arms": ["a", "b"]})
    checks: tuple[_Check, ...] = (_Check(True), _Check(False))
    summary: dict[str, Any] = field(default_factory=lambda: {"effect": 0.25})
    metadata: dict[str, Any] = field(
        default_factory=lambda: {"seed": 7, "overrides": {"cxcr4_kphos_basal": 0.9}, "bad": float("nan")})
    wide: bool = False

    def plot(self) -> Figure:
        fig = Figure(figsize=(16, 4) if self.wide else (2, 2))
        fig.subplots().plot([0, 1], [0, 1])
        return fig


def test_report_renders_a_result_by_its_attributes():
    text = render_report([_Result()], runtime_s=3.0)
    assert "<p>First paragraph of the protocol.</p><p>Second paragraph.</p>" in text
    assert "Things &lt;grow&gt;." in text  # escaped
    assert "1 of 2 checks fail" in text
    assert "data:image/png;base64,iVBORw0KGgo" in text  # the figure, as PNG


def test_importing_the_report_loads_neither_experiments_nor_pyplot():
    code = ("import sys, cllsim.report; cllsim.report.render_report\n"
            "print(sorted(m for m in ('cllsim.experiments', 'matplotlib.pyplot') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


class _Page(HTMLParser):
    """Ids, links, images and the text of the summary section of a report."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.toc_links: list[str] = []
        self.images: list[dict[str, str]] = []
        self.order: list[str] = []  # ids of sections and navs, in page order
        self.summary_text = ""
        self._in: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        if "id" in a:
            self.ids.append(a["id"])
            if tag in {"section", "nav", "h2"}:
                self.order.append(a["id"])
        if tag in {"section", "nav"}:
            self._in.append(a.get("id", ""))
        if tag == "a" and "contents" in self._in:
            self.toc_links.append(a["href"])
        if tag == "img":
            self.images.append(a)

    def handle_endtag(self, tag):
        if tag in {"section", "nav"} and self._in:
            self._in.pop()

    def handle_data(self, data):
        if "summary" in self._in:
            self.summary_text += data + " "


def _png_size(src: str) -> tuple[int, int]:
    png = base64.b64decode(src.split(",", 1)[1])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", png[16:24])  # IHDR width, height


def test_report_opens_with_summary_and_contents_and_sizes_figures():
    from cllsim import __version__
    from cllsim.report._html import CSS_PX_PER_INCH, PAGE_WIDTH_PX, REPORT_DPI

    results = [_Result(), _Result(id="X2", title="A wide one", checks=(_Check(True),), wide=True)]
    page = _Page()
    page.feed(render_report(results, runtime_s=12.0, command="cllsim reproduce --only X1,X2"))
    # the summary comes first, then the contents, then the sections
    assert page.order[:2] == ["summary", "contents"], page.order
    text = " ".join(page.summary_text.split())
    assert "cllsim reproduce --only X1,X2" in text and f"cllsim version {__version__}" in text
    assert "2 passed, 1 failed, of 3" in text and "Experiments passing 1 of 2" in text
    assert "Random seed 7" in text and "Parameter overrides cxcr4_kphos_basal=0.9" in text
    assert "X1 A made-up experiment 1/2" in text  # key numbers: one row per experiment
    # every contents link points at an id of the page, and every experiment has one
    assert page.toc_links[:2] == ["#summary", "#all-checks"]
    assert {"#X1", "#X2"} <= set(page.toc_links)
    assert all(link.removeprefix("#") in page.ids for link in page.toc_links)
    assert len(page.ids) == len(set(page.ids))
    # figures: drawn at one dpi, shown at their drawn size in CSS pixels, shrunk only beyond the page
    assert len(page.images) == 2
    for img, width_in in zip(page.images, (2.0, 16.0), strict=True):
        w_px, h_px = _png_size(img["src"])
        assert int(img["data-dpi"]) == REPORT_DPI and w_px == round(width_in * REPORT_DPI)
        assert int(img["width"]) == round(width_in * CSS_PX_PER_INCH)
        assert abs(int(img["height"]) / int(img["width"]) - h_px / w_px) < 0.01
        assert "zoomed" in img["onclick"] and img["class"] == "fig"
    assert int(page.images[1]["width"]) > PAGE_WIDTH_PX  # the wide one is the one shown shrunk
    report = render_report(results)
    assert report.count("Click to enlarge.") == 1
    assert "&quot;bad&quot;: null" in report and "NaN" not in report  # provenance as strict JSON
