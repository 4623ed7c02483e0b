"""The interactive app (``sn-sim app``) in a real browser, plus the checks it needs without one.

The browser test starts ``sn-sim app`` on 127.0.0.1 and a free port at a tiny scale, drives
Debian's Chromium (``/usr/bin/chromium``, installed by ``.ci/run``) with Playwright for Python --
no browser download -- and checks what a policy officer would: the page loads, Step advances the
week and the plotted values (the summary table holds the last point of every curve) and the chart
image change, a moved control takes effect on Reset, and after the launches mix A and mix B part.
A screenshot goes to ``tmp_path`` (and to ``docs/img/app.png`` with ``SN_SIM_APP_SCREENSHOT=1``).

Without Chromium the browser test is skipped locally; with ``CI`` set it must run.
"""

from __future__ import annotations

import math
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCENARIO = "national_rollout"  # a shipped scenario, by name
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SCALE = 0.01          # tiny: the test is about the page, not the numbers
START_TIMEOUT = 60.0  # seconds for the server to answer
UI_TIMEOUT = 20_000   # ms for one page update
METRICS = ("offences_per_1000_year", "victimisation_12m", "trust_police", "insecurity", "youth_gang_share")


# --- without a browser -------------------------------------------------------------------------------


def test_controls_give_a_valid_mix_and_twins():
    from sn_sim.app.controls import normalise_mix
    from sn_sim.app.model import PLOTTED, AppModel

    assert normalise_mix(0, 0, 0) == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    assert normalise_mix(100, 35, 25) == pytest.approx((0.625, 0.21875, 0.15625))
    same = AppModel(scale=0.005)
    assert same.twins_identical  # default sliders = the scenario's mix = comparison "Scenario mix"
    m = AppModel(scale=0.005, police=0, social=0, community=0, comparison="Police only", rollout_pct=0)
    assert not m.twins_identical
    assert sum(m.mix["A"]) == pytest.approx(1) and m.mix["B"] == (1.0, 0.0, 0.0)
    assert [c.neighbourhoods for c in m.scenarios["A"].strategy.rollout] == [5, 0, 0, 0]  # pilot kept
    assert m.advance(3) == 3 and m.week == 3
    latest = m.latest()
    assert set(latest["A"]["comparison"]) == set(PLOTTED) == set(METRICS)
    assert math.isfinite(latest["A"]["comparison"]["trust_police"])
    assert math.isnan(latest["A"]["treated"]["trust_police"])


def test_cli_rejects_a_bad_scenario_before_serving(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('extends = "%s"\n[strategy.mix]\npolice = 0.9\n' % SCENARIO, encoding="utf-8")
    port = _free_port()
    res = subprocess.run([sys.executable, "-m", "sn_sim.cli", "app", str(bad), "--port", str(port)],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sn-sim: error:") and "strategy.mix" in lines[0]
    assert "serving" not in res.stdout
    with socket.socket() as s:  # nothing listens there
        assert s.connect_ex(("127.0.0.1", port)) != 0


# --- in the browser ----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    """``sn-sim app`` on 127.0.0.1:<free port>; yields (url, start time); stopped afterwards."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium for this test")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium); CI runs this test")
    if not os.environ.get("CI"):
        pytest.importorskip("playwright.sync_api", reason="Playwright for Python comes with the test extra")
    port = _free_port()
    log_path = tmp_path_factory.mktemp("app") / "server.log"
    url = f"http://127.0.0.1:{port}/"
    t0 = time.monotonic()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sn_sim.cli", "app", SCENARIO, "--host", "127.0.0.1", "--port", str(port),
             "--scale", str(SCALE)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=log_path.parent, start_new_session=True,
            env={**os.environ, "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "false"},
        )
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"sn-sim app exited with {proc.returncode}:\n{log_path.read_text()}")
            if time.monotonic() - t0 > START_TIMEOUT:
                pytest.fail(f"sn-sim app did not answer within {START_TIMEOUT:.0f} s:\n{log_path.read_text()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                time.sleep(0.2)
        yield url, t0
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


def _value(page, key: str) -> str:
    return page.get_by_test_id(f"value-{key}").inner_text().strip()


def _values(page) -> dict[str, str]:
    return {f"{mix}-{group}-{metric}": _value(page, f"{mix}-{group}-{metric}")
            for mix in ("A", "B") for group in ("treated", "comparison") for metric in METRICS}


def _number(text: str) -> float:
    return float(text.rstrip("%").replace(",", ""))


def test_page_steps_controls_and_plots(app_url, tmp_path, record_property):
    from playwright.sync_api import expect, sync_playwright

    from sn_sim.app.controls import BY_NAME

    url, t0 = app_url
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 2150})
            page.set_default_timeout(UI_TIMEOUT)
            page.goto(url)
            week = page.get_by_test_id("week")
            try:
                expect(week).to_contain_text("Week 0 of 261", timeout=45_000)
            except AssertionError:
                from sn_sim.app.cli import missing_browser_assets

                missing = missing_browser_assets()
                hint = f"; Solara's offline assets are missing: {missing} (solara-assets, ipyvuetify<3)" if missing else ""
                page.screenshot(path=str(tmp_path / "blank.png"))
                pytest.fail(f"the page did not render within 45 s{hint}; screenshot {tmp_path / 'blank.png'}")
            chart = page.locator(".sn-chart-timeseries img")
            expect(chart).to_be_visible()
            usable_s = time.monotonic() - t0
            record_property("seconds_to_usable_page", round(usable_s, 2))
            assert _value(page, "A-comparison-trust_police") == "—"  # nothing simulated yet

            # Step: the week, the plotted values and the chart change.
            step = page.get_by_role("button", name="Step", exact=True)
            t_steps = time.monotonic()
            for n in (1, 2, 3):
                step.click()
                expect(week).to_contain_text(f"Week {n} of 261")
            step_s = (time.monotonic() - t_steps) / 3
            record_property("seconds_per_step_in_browser", round(step_s, 3))
            first, chart_first = _values(page), chart.get_attribute("src")
            for metric in METRICS:
                _number(first[f"A-comparison-{metric}"])  # plotted values are numbers now
            for n in (4, 5):
                step.click()
                expect(week).to_contain_text(f"Week {n} of 261")
            expect(chart).not_to_have_attribute("src", chart_first)
            second = _values(page)
            assert [second[f"A-comparison-{k}"] for k in METRICS] != [first[f"A-comparison-{k}"] for k in METRICS]

            # A control (Mesa's slider, found by its label in the control table): police weight to
            # its maximum; applied on Reset.
            expect(page.get_by_test_id("mix-A")).to_contain_text("police 40%")
            thumb = page.get_by_role("slider", name=BY_NAME["police"].label, exact=True)
            expect(thumb).to_have_attribute("aria-valuenow", "40")
            thumb.focus()
            thumb.press("End")
            expect(thumb).to_have_attribute("aria-valuenow", "100")
            page.get_by_role("button", name="Reset").click()
            expect(week).to_contain_text("Week 0 of 261")
            expect(page.get_by_test_id("mix-A")).to_contain_text("police 62% · social 22% · community 16%")
            expect(page.get_by_test_id("mix-B")).to_contain_text("police 40% · social 35% · community 25%")

            # Past the 2016 and 2017 launches the two mixes part in the treated neighbourhoods.
            jump = page.get_by_role("button", name="+1 year")
            for n in (52, 104, 156):
                jump.click()
                expect(week).to_contain_text(f"Week {n} of 261")
            third = _values(page)
            treated_a = [third[f"A-treated-{k}"] for k in METRICS]
            treated_b = [third[f"B-treated-{k}"] for k in METRICS]
            assert "—" not in treated_a + treated_b
            assert treated_a != treated_b
            expect(page.get_by_test_id("stages")).to_contain_text(re.compile(r"mix A: \d+ planning, [1-9]\d* execution"))

            shot = tmp_path / "app.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 50_000
            if os.environ.get("SN_SIM_APP_SCREENSHOT"):
                target = REPO / "docs" / "img" / "app.png"
                target.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(target), full_page=True)
        finally:
            browser.close()
    print(f"\nsn-sim app: usable page after {usable_s:.1f} s; one step in the browser {step_s:.2f} s")
