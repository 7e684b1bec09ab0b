"""``gibbsnet report`` (cli/report.py): the page, its refusals, and the page as a browser shows it."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from gibbsnet_cli.main import cli

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

PROBE = """<script>
window.probeErrors = [];
addEventListener("error", e => probeErrors.push(String(e.message || (e.target && e.target.outerHTML
  && e.target.outerHTML.slice(0, 60)) || e.type)), true);
const probeConsoleError = console.error;
console.error = (...args) => { probeErrors.push(args.map(String).join(" ")); probeConsoleError(...args); };
addEventListener("load", () => {
  const images = [...document.images], out = document.body.dataset;
  out.images = images.length;
  out.decoded = images.filter(i => i.complete && i.naturalWidth > 0).length;
  out.charts = document.querySelectorAll("svg.chart").length;
  out.errors = JSON.stringify(probeErrors);
  out.loaded = "yes";
});
</script>"""
"""Injected into a copy of the page by the browser test: when the page has loaded, it writes into
``<body data-...>`` how many images there are and decoded, how many charts, and every error."""


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    """The default report.html lands in the test's directory."""
    monkeypatch.chdir(tmp_path)


def invoke(*args: object) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


def small(*args: object) -> Result:
    """``gibbsnet report`` with short chains on the CPU."""
    return invoke("report", *args, "--steps", 20, "--num", 4, "--device", "cpu")


@pytest.fixture(scope="module")
def page(run: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A report of ``run`` written by the command with --json, and what it printed."""
    out = tmp_path_factory.mktemp("report") / "report.html"
    result = CliRunner().invoke(cli, ["report", str(run), "--out", str(out), "--steps", "20", "--num",
                                      "4", "--device", "cpu", "--json"])
    assert result.exit_code == 0, result.stderr
    return out, json.loads(result.stdout)


def test_the_command_writes_the_page_and_prints_json(run, page):
    out, printed = page
    assert printed["report"] == str(out)
    (summary,) = printed["runs"]
    assert summary["run"] == str(run) and summary["label"] == "run" and summary["iteration"] == 12
    grids = len(list((run / "samples").glob("*.png")))
    assert summary["images"] == grids + 1 + 2  # sample grids, the trajectory, two inpainting masks
    text = out.read_text(encoding="utf-8")
    assert text.count("<img ") == text.count("data:image/png;base64,") == summary["images"]
    assert "reconstruction_mse" in summary["scores"] and "inpaint_left-half_psnr" in summary["scores"]


def test_human_output_is_one_line_on_stderr(run, tmp_path):
    result = small(run, run, "--mask", "center", "--out", tmp_path / "two.html")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert re.fullmatch(r"wrote \S+two\.html \(2 runs, [\d,]+ KiB\)\n", result.stderr)
    text = (tmp_path / "two.html").read_text(encoding="utf-8")
    assert 'data-run="run"' in text and 'data-run="run-2"' in text and "mask center" in text


def test_an_existing_page_is_replaced_only_with_force(run, tmp_path):
    out = tmp_path / "report.html"
    out.write_text("mine")
    result = small(run)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "report.html: exists" in result.stderr
    assert "--force" in result.stderr and out.read_text() == "mine"
    result = small(run, "--force")
    assert result.exit_code == 0, result.stderr
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


@pytest.mark.parametrize(("args", "message"), [
    (["--out", "report.png"], "--out report.png: expected a file name ending in .html"),
    (["--out", "."], "expected a file name ending in .html"),
    (["--mask", "nonsense"], "nonsense"),
])
def test_refusals_are_one_line_and_write_nothing(run, tmp_path, args, message):
    result = small(run, *args)
    assert result.exit_code == 2, result.stderr
    assert result.stderr.count("\n") == 1 and message in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_missing_run_is_named_before_any_work(run, tmp_path):
    result = small(run, tmp_path / "nowhere")
    assert result.exit_code == 2
    assert result.stderr == f"error: {tmp_path / 'nowhere'}: no such run directory\n"
    assert list(tmp_path.iterdir()) == []
    assert invoke("report").exit_code == 2  # RUN... is required


def test_help_loads_neither_torch_nor_the_library():
    code = ("import sys\nfrom gibbsnet_cli.main import main\ntry:\n    main(['report', '--help'])\n"
            "except SystemExit:\n    pass\n"
            "import json\nprint(json.dumps([m for m in sys.modules if m == 'torch' or "
            "m.startswith('gibbsnet_plugin.')]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "--steps" in out.stdout and "--force" in out.stdout
    loaded = set(json.loads(out.stdout.splitlines()[-1]))
    assert loaded <= {"gibbsnet_plugin.errors", "gibbsnet_plugin.limits"}


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary on PATH (Debian: apt-get install "
                                              "chromium)")
def test_the_page_renders_in_a_browser_with_every_image_decoded_and_no_error(page, tmp_path):
    out, printed = page
    text = out.read_text(encoding="utf-8")
    assert "<script" not in text
    probe = tmp_path / "probe.html"
    probe.write_text(text.replace("<head>", "<head>" + PROBE, 1), encoding="utf-8")
    result = subprocess.run(
        [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-extensions", f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr",
         "--v=0", "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", result.stdout)
    assert body is not None, result.stdout[:500]
    shown = {k: html.unescape(v) for k, v in re.findall(r'data-([a-z]+)="([^"]*)"', body.group(1))}
    assert shown["loaded"] == "yes"
    assert int(shown["images"]) == int(shown["decoded"]) == printed["runs"][0]["images"] > 0
    assert int(shown["charts"]) == text.count('<svg class="chart"') == 2  # losses, D outputs
    assert json.loads(shown["errors"]) == []
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []
