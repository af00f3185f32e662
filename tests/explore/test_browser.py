"""The explorer in a real headless Chromium: change the regimen and a parameter, read the plotted data
back from the page, and compare it with ``cllsim.simulate`` for the same inputs.

Needs Dash and Selenium (``pip install -e ".[test,explore]"``) and Debian's ``chromium`` and
``chromium-driver`` (``.ci/run`` installs them); skipped, saying which is missing, otherwise.
Set ``CLLSIM_EXPLORER_SCREENSHOT=path.png`` to keep a screenshot of the final view.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

import cllsim

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
MISSING = [what for what, ok in (("dash", importlib.util.find_spec("dash")), ("selenium", importlib.util.find_spec(
    "selenium")), ("chromium", CHROMIUM), ("chromedriver (Debian chromium-driver)", DRIVER)) if not ok]
pytestmark = pytest.mark.skipif(bool(MISSING), reason=f"browser test needs {', '.join(MISSING)}")

#: Seconds to wait for the server (it compiles the cohort engine first) and for one update.
SERVER_TIMEOUT_S, UPDATE_TIMEOUT_S = 240.0, 60.0
TRACE_JS = """
const gd = document.querySelector('#panel .js-plotly-plot');
if (!gd || !gd.data) return null;
return gd.data.filter(t => t.meta && t.meta.series === 'patient' && t.meta.observable === arguments[0])
              .map(t => ({panel: t.meta.panel, regimen: t.meta.regimen, x: Array.from(t.x), y: Array.from(t.y)}));
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = _free_port()
    src = Path(cllsim.__file__).parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "cllsim.cli", "explore", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + SERVER_TIMEOUT_S
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"explorer did not start: {proc.stdout.read() if proc.stdout else ''}")
        time.sleep(0.5)
    yield url
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def downloads(tmp_path_factory):
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(downloads):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1500,1000"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    yield driver
    driver.quit()


def _wait(driver, predicate, what: str, timeout: float = UPDATE_TIMEOUT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; page says: "
                         f"{driver.find_element('id', 'error').text!r} {driver.find_element('id', 'status').text!r}")


def _traces(driver, observable="alc_per_uL"):
    return driver.execute_script(TRACE_JS, observable)


def _type(driver, css: str, text: str) -> float:
    from selenium.webdriver.common.keys import Keys

    box = driver.find_element("css selector", css)
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(text, Keys.ENTER)
    return time.monotonic()


def _reference(regimen: str, **parameters: float):
    from cllsim.explore._view import ATOL, RTOL

    patient = cllsim.Patient(ighv="U", parameters=parameters)
    return cllsim.simulate(regimen, patient, days=365, engine="cohort", rtol=RTOL, atol=ATOL)["alc_per_uL"]


def test_changing_regimen_and_parameter_updates_the_plot_to_cllsim_simulate(server, browser):
    browser.get(server)
    first = _wait(browser, lambda: _traces(browser), "the first figure")
    assert [t["regimen"] for t in first] == ["420 mg qd"]
    np.testing.assert_allclose(first[0]["y"], _reference("420 mg qd").to_numpy(), rtol=1e-12)

    t0 = _type(browser, "#regimen-a", "280 mg qd")
    after_regimen = _wait(browser, lambda: (t := _traces(browser)) and t[0]["regimen"] == "280 mg qd" and t,
                          "the figure of 280 mg qd")
    regimen_s = time.monotonic() - t0
    assert not np.array_equal(after_regimen[0]["y"], first[0]["y"])

    t0 = _type(browser, "input[name=baseline_alc_per_uL]", "80000")
    final = _wait(browser, lambda: (t := _traces(browser)) and t[0]["y"][0] == pytest.approx(80000.0) and t,
                  "the figure with baseline ALC 80000/uL")
    parameter_s = time.monotonic() - t0
    ref = _reference("280 mg qd", baseline_alc_per_uL=80000.0)
    np.testing.assert_allclose(final[0]["x"], ref.index.to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(final[0]["y"], ref.to_numpy(), rtol=1e-12)
    assert "computed in" in browser.find_element("id", "status").text
    print(f"update after regimen change {regimen_s:.2f} s, after parameter change {parameter_s:.2f} s")
    assert max(regimen_s, parameter_s) < UPDATE_TIMEOUT_S
    if shot := os.environ.get("CLLSIM_EXPLORER_SCREENSHOT"):
        browser.find_element("css selector", "#compare input").click()
        _wait(browser, lambda: len(_traces(browser) or []) == 2, "the comparison with regimen B")
        browser.find_element("css selector", "#cohort input").click()
        _wait(browser, lambda: "virtual patients" in browser.find_element("id", "status").text
              or browser.execute_script(
                  "return document.querySelector('#panel .js-plotly-plot').data.some(t => t.meta.series === 'p50')"),
              "the cohort band")
        time.sleep(1.0)
        browser.save_screenshot(shot)


def test_invalid_input_shows_an_inline_message_and_keeps_the_plot(server, browser):
    browser.get(server)
    before = _wait(browser, lambda: _traces(browser), "the first figure")
    _type(browser, "#regimen-a", "banana")
    message = _wait(browser, lambda: browser.find_element("id", "error").text, "an error message")
    assert "regimen" in message and "Traceback" not in browser.page_source
    assert _traces(browser) == before
    _type(browser, "#regimen-a", "420 mg qd")
    _wait(browser, lambda: not browser.find_element("id", "error").text, "the message to clear")
    _type(browser, "input[name=bcr_strength]", "99")
    _wait(browser, lambda: "bounds" in browser.find_element("id", "error").text, "the bounds message")


def test_downloads_are_the_tidy_data_and_a_script_that_reproduces_it(server, browser, downloads):
    import pandas as pd

    from cllsim.explore import View, compute_view

    browser.get(server)
    _wait(browser, lambda: _traces(browser), "the first figure")
    _type(browser, "input[name=body_weight_kg]", "60")
    _wait(browser, lambda: "body_weight_kg" in browser.find_element("id", "code").get_attribute("textContent"),
          "the view with body weight 60 kg")
    for button in ("btn-csv", "btn-py"):
        browser.find_element("id", button).click()
    csv_path, py_path = downloads / "cllsim_view.csv", downloads / "cllsim_view.py"
    _wait(browser, lambda: csv_path.exists() and py_path.exists(), "the two downloads", timeout=30)
    got = pd.read_csv(csv_path)
    want = compute_view(View(parameters={"body_weight_kg": 60.0})).data
    pd.testing.assert_frame_equal(got[want.columns.tolist()], want, check_dtype=False, rtol=1e-12)
    scope: dict = {}
    exec(compile(py_path.read_text(), str(py_path), "exec"), scope)  # noqa: S102 - the downloaded script
    np.testing.assert_allclose(scope["results"]["A"]["alc_per_uL"].to_numpy(),
                               want[(want["observable"] == "alc_per_uL")]["value"].to_numpy(), rtol=1e-12)
