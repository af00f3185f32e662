"""Figures of simulations: every panel of ``result.plot()`` and ``cllsim.plot_compare`` has axis
labels with units; ``ax=`` draws into given axes; the overlay's legend tells the results apart."""

import re

import pytest
from matplotlib.figure import Figure

import cllsim

#: "quantity (unit)": a label names what is drawn and, in parentheses, its unit.
LABEL_WITH_UNIT = re.compile(r"^\S.*\((?P<unit>[^()]+)\)$")


@pytest.fixture(scope="module")
def results():
    return [
        cllsim.simulate("420 mg qd", cllsim.Patient(ighv="U"), days=10),
        cllsim.simulate("420 mg qd", cllsim.Patient(ighv="M"), days=10),
        cllsim.simulate("280 mg qd", cllsim.Patient(ighv="U"), days=10),
    ]


def _check_axes_labelled(fig: Figure) -> int:
    drawn = [ax for ax in fig.axes if ax.get_visible() and ax.lines]
    assert drawn, "no axes with data"
    for ax in drawn:
        for label in (ax.get_xlabel(), ax.get_ylabel()):
            m = LABEL_WITH_UNIT.match(label)
            assert m and m["unit"].strip(), f"axis {ax.get_title()!r}: label {label!r} has no unit"
        assert "days" in ax.get_xlabel()
    return len(drawn)


def test_every_panel_of_a_result_plot_has_labels_with_units(results):
    assert _check_axes_labelled(results[0].plot()) == 6
    assert _check_axes_labelled(results[0].plot(["alc_per_uL", "drug_free_nM", "pim1_level"])) == 3


def test_every_panel_of_plot_compare_has_labels_with_units_and_one_line_per_result(results):
    fig = cllsim.plot_compare(results)
    n = _check_axes_labelled(fig)
    assert n == len(cllsim.report._panel.COMPARE_OBSERVABLES)
    assert all(len(ax.lines) == len(results) for ax in fig.axes if ax.get_visible())
    (legend,) = fig.legends
    entries = [t.get_text() for t in legend.get_texts()]
    assert entries == ["ibrutinib 420 mg qd, U-CLL", "ibrutinib 420 mg qd, M-CLL", "ibrutinib 280 mg qd, U-CLL"]
    assert not any(ax.get_legend() for ax in fig.axes)  # the legend sits outside the data


def test_plot_draws_one_observable_into_given_axes(results):
    fig = Figure()
    ax = fig.subplots()
    assert results[0].plot("alc_per_uL", ax=ax) is fig
    assert len(ax.lines) == 1 and list(ax.lines[0].get_xdata()) == list(results[0]["alc_per_uL"].index)
    _check_axes_labelled(fig)
    with pytest.raises(cllsim.SpecError, match="need as many axes"):
        results[0].plot(ax=ax)  # the six-panel default does not fit one axes


def test_plot_compare_into_given_axes_and_refusals(results):
    fig = Figure()
    axes = fig.subplots(1, 2)
    assert cllsim.plot_compare(results[:2], ["alc_per_uL", "btk_occupancy_pct"], ax=axes) is fig
    assert [len(ax.lines) for ax in axes] == [2, 2]
    _check_axes_labelled(fig)
    with pytest.raises(cllsim.SpecError, match="no observable 'nope'"):
        cllsim.plot_compare(results, ["nope"])
    with pytest.raises(cllsim.SpecError, match="at least one"):
        cllsim.plot_compare([])
    with pytest.raises(cllsim.SpecError, match="labels"):
        cllsim.plot_compare(results, labels=["a"])


def test_repeated_labels_are_numbered_and_mice_are_not_given_an_ighv_status(results):
    same = cllsim.report._panel.compare_labels([results[0], results[0]])
    assert same == ["ibrutinib 420 mg qd, U-CLL #1", "ibrutinib 420 mg qd, U-CLL #2"]
    mouse = cllsim.simulate("420 mg qd", host="tcl1", days=3)
    assert "CLL" not in mouse.plot()._suptitle.get_text().split(",")[0]
    assert cllsim.report._panel.compare_labels([results[0], mouse]) == ["ibrutinib 420 mg qd, U-CLL, patient",
                                                                       "ibrutinib 420 mg qd, tcl1 mouse"]
