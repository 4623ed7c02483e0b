"""``sn-sim report``: the one-page HTML report of a run or a comparison, end to end.

A tiny run (with its counterfactual twin) and a tiny comparison are written by the command line,
then reported; the pages are read as text (key numbers, scenario differences in words, caveats,
nothing fetched from outside) and in the real browser: Debian's Chromium driven by Playwright
(``/usr/bin/chromium``, never a downloaded browser), which must render them without console
errors, load every figure and make no network request. Without Chromium the browser test is
skipped locally; with ``CI`` set it must run.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from mini import mini_scenario
from sn_sim.cli import main
from sn_sim.observe.plots import FIGURES as RUN_FIGURES
from sn_sim.report.page import CAVEATS

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def sn_sim(*args, cwd):
    return subprocess.run([sys.executable, "-m", "sn_sim.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def one_line_error(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sn-sim: error:"), lines
    return lines[0]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("report")
    (d / "mini.toml").write_text(mini_scenario())
    (d / "police.toml").write_text(mini_scenario("police_heavy") + "[strategy.mix]\npolice = 0.8\nsocial = 0.1\n"
                                   "community = 0.1\n")
    # The run and the comparison through the CLI's entry point in this process (the report is
    # what is new here); the report of the run in a separate process, as a user runs it.
    assert main(["run", str(d / "mini.toml"), "--twin", "--replicates", "2", "--out", str(d / "run"), "--quiet"]) == 0
    reported = sn_sim("report", "run", cwd=d)
    assert reported.returncode == 0, reported.stderr
    assert "wrote run/report.html" in reported.stdout
    assert main(["compare", str(d / "mini.toml"), str(d / "police.toml"), "--replicates", "2", "--workers", "1",
                 "--out", str(d / "cmp"), "--quiet", "--no-plots"]) == 0
    assert main(["report", str(d / "cmp"), "--out", str(d / "cmp.html"), "--quiet"]) == 0
    return d


def test_run_saves_every_figure_as_png_and_svg_with_its_twin(outputs):
    run = outputs / "run"
    assert (run / "twin" / "manifest.json").is_file()
    names = sorted(p.name for p in (run / "plots").iterdir())
    assert names == sorted(f"{n}.{ext}" for n in RUN_FIGURES for ext in ("png", "svg"))
    for n in RUN_FIGURES:
        assert (run / "plots" / f"{n}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert ET.parse(run / "plots" / f"{n}.svg").getroot().tag.endswith("svg")


def self_contained(page: str) -> None:
    """Nothing in the page is fetched: no script, stylesheet link or non-data URL."""
    assert not re.search(r"<(script|link|iframe|object)\b", page)
    assert re.findall(r'\bsrc="([^"]*)"', page) and all(s.startswith("data:image/") for s in
                                                         re.findall(r'\bsrc="([^"]*)"', page))
    assert not re.search(r"\b(href|url)\s*[=(]\s*[\"']?https?:", page)


def test_run_report_has_numbers_with_intervals_words_and_caveats(outputs):
    page = (outputs / "run" / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and '<meta name="generator" content="sn-sim report' in page
    assert "What happens to crime and trust under “mini”?" in page
    assert "Rollout: 2 in 2016 (from 2016-03-07)" in page and "Budget split: police 40%" in page
    assert "effect on the treated (vs twin)" in page
    # mean [low, high] cells: levels and paired effects against the twin
    assert len(re.findall(r"-?\d[\d,]*\.\d+ \[-?[\d,]+\.\d+, -?[\d,]+\.\d+\]", page)) >= 20
    assert page.count('<img src="data:image/svg+xml;base64,') == len(RUN_FIGURES)
    assert "What this model is not" in page and all(html.escape(head) in page for head, _ in CAVEATS)
    self_contained(page)


def test_a_run_without_twin_says_it_has_no_counterfactual(outputs, tmp_path):
    plain = tmp_path / "plain"
    shutil.copytree(outputs / "run", plain, ignore=shutil.ignore_patterns("twin", "report.html", "plots"))
    assert main(["report", str(plain), "--quiet"]) == 0
    page = (plain / "report.html").read_text(encoding="utf-8")
    assert "This run has no counterfactual twin" in page and "<code>sn-sim run --twin</code>" in page
    assert "vs twin" not in page and "treated neighbourhoods</th>" in page


def test_compare_report_says_how_the_mixes_differ(outputs):
    page = (outputs / "cmp.html").read_text(encoding="utf-8")
    assert "What do the policy mixes change, compared with “mini”?" in page
    assert "<code>strategy.mix.police</code> — police prevention pillar: 0.4 in mini → <b>0.8</b>" in page
    assert "<code>strategy.mix.social</code>" in page and "differs from mini in 3 values" in page
    assert "police_heavy against mini" in page
    assert re.search(r"Trust the police: [+-]?\d+\.\d+ .*? percentage points — (clearly (higher|lower) than under "
                     r"mini|no clear difference from mini|the same as under mini)", page)
    # Effects over time, forest, cost against effect, scores by source.
    assert page.count('<img src="data:image/svg+xml;base64,') == 4
    self_contained(page)


def test_report_replaces_its_own_page_only_with_force(outputs, capsys):
    page = outputs / "run" / "report.html"
    before = page.read_bytes()
    assert main(["report", str(outputs / "run")]) == 2
    assert "already exists (use --force to replace it)" in one_line_error(capsys)
    assert page.read_bytes() == before
    # Replaced whole, and with the same bytes: the same directory gives the same page (in this
    # process as in the CLI's).
    assert main(["report", str(outputs / "run"), "--force", "--quiet"]) == 0
    assert page.read_bytes() == before


def test_report_refuses_other_files_and_bad_directories(outputs, tmp_path, capsys):
    mine = tmp_path / "notes.html"
    mine.write_text("<p>my notes</p>")
    assert main(["report", str(outputs / "cmp"), "--out", str(mine), "--force"]) == 2
    assert "not a page written by sn-sim report" in one_line_error(capsys)
    assert mine.read_text() == "<p>my notes</p>"
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "not found" in one_line_error(capsys)
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty")]) == 2
    assert "not a run or compare directory" in one_line_error(capsys)
    assert main(["report", str(outputs / "mini.toml")]) == 2
    assert "not a directory" in one_line_error(capsys)
    # A data file changed since it was written is refused, and no page is written.
    tampered = tmp_path / "cmp"
    shutil.copytree(outputs / "cmp", tampered)
    (tampered / "report.html").unlink(missing_ok=True)
    with open(tampered / "effects.csv", "a") as f:
        f.write("\n")
    assert main(["report", str(tampered)]) == 2
    err = one_line_error(capsys)
    assert "effects.csv: does not match its checksum" in err
    assert not (tampered / "report.html").exists()
    # A manifest edited into another shape is refused in one line too.
    shutil.rmtree(tampered)
    shutil.copytree(outputs / "cmp", tampered)
    manifest = json.loads((tampered / "manifest.json").read_text())
    (tampered / "manifest.json").write_text(json.dumps({**manifest, "base": 5}))
    assert main(["report", str(tampered)]) == 2
    assert "manifest.json: base: missing or not a str" in one_line_error(capsys)
    run = tmp_path / "run"
    shutil.copytree(outputs / "run", run)
    (run / "report.html").unlink()
    with open(run / "panel.parquet", "r+b") as f:
        f.seek(100)
        f.write(b"\0\0\0\0")
    assert main(["report", str(run)]) == 2
    assert "panel.parquet: does not match its checksum" in one_line_error(capsys)
    assert not (run / "report.html").exists()


@pytest.mark.skipif(not CHROMIUM.exists() and not os.environ.get("CI"), reason="needs Debian's /usr/bin/chromium")
def test_reports_render_in_the_browser_offline(outputs):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            for path, figures in ((outputs / "run" / "report.html", len(RUN_FIGURES)), (outputs / "cmp.html", 4)):
                page = browser.new_page(viewport={"width": 1200, "height": 900})
                problems, requests = [], []
                page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
                page.on("pageerror", lambda e: problems.append(str(e)))
                page.on("request", lambda r: requests.append(r.url))
                page.goto(path.as_uri(), wait_until="load")
                images = page.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth, "
                                       "i.naturalHeight])")
                assert len(images) == figures and all(ok and w > 0 and h > 0 for ok, w, h in images), images
                assert page.locator("h1").inner_text().endswith("?")
                assert page.locator("#caveats li").count() == len(CAVEATS)
                assert page.locator("#numbers table tr").count() >= 7
                assert problems == [], problems
                assert [u for u in requests if not u.startswith(("file://", "data:"))] == [], requests
                page.close()
        finally:
            browser.close()
