"""The HTML report renders any result with the reported attributes; it does not need the experiments."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
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
    metadata: dict[str, Any] = field(default_factory=dict)

    def plot(self) -> Figure:
        fig = Figure(figsize=(2, 2))
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
