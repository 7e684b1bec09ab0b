"""Run reports (gibbsnet_plugin/report.py): reading run directories, charts, and the page of one
run or several side by side."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

import gibbsnet_plugin as gn
from conftest import tiny_recipe
from gibbsnet_plugin import report
from gibbsnet_plugin.errors import MaskError, RunDirectoryError
from gibbsnet_plugin.metrics.uncertainty import PIT_BINS
from gibbsnet_plugin.recipe import recipe_from_dict
from gibbsnet_plugin.report import charts, runs

SECTIONS = ("runs", "training", "evaluation", "samples", "chains", "inpainting")
"""The sections with one column per run."""
WINE = Path(__file__).parents[1] / "examples" / "tables" / "wine.csv"


class Page(HTMLParser):
    """The parts of a report page the tests look at: for each section, the runs of its columns
    and the ``<img>`` sources in each column; every ``<img>``; the curves of the charts."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.columns: dict[str, list[str]] = {}
        self.images: dict[tuple[str, str], list[str]] = {}
        self.sources: list[str] = []
        self.curves: list[dict[str, str]] = []
        self._section = self._run = ""
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "section":
            self._section = a["id"]
            self.columns[self._section] = []
        elif tag == "div" and a.get("class") == "run":
            self._run = a["data-run"]
            self.columns[self._section].append(self._run)
        elif tag == "img":
            self.sources.append(a["src"])
            self.images.setdefault((self._section, self._run), []).append(a["src"])
        elif tag == "g" and a.get("class") == "curve":
            self.curves.append({"section": self._section, "run": self._run, **a})

    def curve(self, section: str, run: str, name: str) -> list[int]:
        """The iterations of a curve."""
        found = [c for c in self.curves if (c["section"], c["run"], c["data-name"]) == (section, run, name)]
        assert len(found) == 1, (section, run, name)
        return [int(i) for i in found[0]["data-iterations"].split()]


def png(source: str) -> Image.Image:
    """The image of a ``data:image/png;base64,`` URI, decoded (raises if it is not a PNG)."""
    prefix = "data:image/png;base64,"
    assert source.startswith(prefix)
    image = Image.open(io.BytesIO(base64.b64decode(source[len(prefix):], validate=True)))
    assert image.format == "PNG"
    image.load()
    return image


def logged(run: Path, key: str) -> list[int]:
    return [r["iteration"] for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
            if key in r]


@pytest.fixture(scope="module")
def eval_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny digits run that evaluated reconstruction at iterations 6 and 12."""
    raw = tiny_recipe().to_dict()
    raw["eval"] = {"metrics": ["reconstruction"], "every": 6}
    return gn.train(recipe_from_dict(raw), out=tmp_path_factory.mktemp("eval") / "evaluated")


@pytest.fixture(scope="module")
def points_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny run on 2-D points (ring8): its data are not images."""
    recipe = tiny_recipe(data={"dataset": "ring8", "options": {"size": 500}},
                         model={"options": {"hidden": [16], "norm": "none", "output": "linear"}},
                         train={"sample_every": 0})
    return gn.train(recipe, out=tmp_path_factory.mktemp("points") / "points")


@pytest.fixture(scope="module")
def table_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny run on the shipped wine table, whose rows have empty cells of their own."""
    recipe = tiny_recipe(
        data={"dataset": "table", "batch_size": 16,
              "options": {"path": str(WINE), "categorical": ["cultivar"]}},
        model={"options": {"hidden": [16], "norm": "layer", "output": "linear"}},
        train={"iterations": 6, "sample_every": 0, "checkpoint_every": 6, "missing_steps": 2})
    return gn.train(recipe, out=tmp_path_factory.mktemp("table") / "wine")


@pytest.fixture(scope="module")
def page(eval_run: Path) -> report.Report:
    return report.build_report([eval_run], "cpu", steps=20, num=4, seed=3)


def test_nice_range_covers_the_values_with_round_steps():
    assert charts.nice_range([0.0, 300.0]) == (0.0, 300.0, 50.0)
    low, high, step = charts.nice_range([0.213, 0.771])
    assert low <= 0.213 and high >= 0.771 and step == pytest.approx(0.1)
    low, high, step = charts.nice_range([5.0])
    assert low < 5 < high
    assert charts.nice_range([]) == (0.0, 1.0, 0.2)
    curve = charts.finite([(1, 1e308), (2, -1e308), (3, 0.5), (4, 1.5)])
    assert curve == [0.5, 1.5]  # values beyond ±1e100 are gaps, as NaN is
    assert charts.nice_range(curve)[0] <= 0.5


def test_a_histogram_draws_a_bar_per_bin_and_the_flat_level_dashed():
    shares = [0.4, 0.2, 0.0, 0.2, 0.2]
    svg = charts.Histogram(shares, charts.nice_range([0.0, 0.4]), "PIT", "share", "a<b").svg()
    bars = re.findall(r'<rect class="bar" x="[^"]+" y="([^"]+)" width="[^"]+" height="([^"]+)" '
                      r'fill="[^"]+" data-share="([^"]+)">', svg)
    assert [float(share) for _, _, share in bars] == shares
    tops, heights = [float(y) for y, _, _ in bars], [float(h) for _, h, _ in bars]
    assert heights[0] == pytest.approx(2 * heights[1], abs=0.2) and heights[2] == 0
    (flat,) = re.findall(r'<line class="flat" x1="[^"]+" x2="[^"]+" y1="([^"]+)"', svg)
    assert float(flat) == pytest.approx(tops[1], abs=0.1)  # at 1 / 5 bins = 0.2
    assert "<title>a&lt;b</title>" in svg


def test_spread_keeps_the_first_and_the_last():
    assert runs.spread(list(range(5)), 12) == [0, 1, 2, 3, 4]
    assert runs.spread(list(range(100)), 4) == [0, 33, 66, 99]
    assert runs.spread(list(range(3)), 1) == [2]


def test_a_run_gets_every_section_its_curves_images_and_scores(eval_run, page):
    parsed = Page(page.html)
    label = "evaluated"
    assert all(parsed.columns[section] == [label] for section in SECTIONS)
    assert parsed.curve("training", label, "d_loss") == logged(eval_run, "d_loss") == [2, 4, 6, 8, 10, 12]
    assert parsed.curve("training", label, "d_fake") == logged(eval_run, "d_fake")
    assert parsed.curve("evaluation", label, "reconstruction_mse") == [6, 12]
    grids = sorted((eval_run / "samples").glob("*.png"))
    assert len(parsed.images[("samples", label)]) == len(grids) == 2
    assert [png(s).size for s in parsed.images[("samples", label)]] == [
        Image.open(g).size for g in grids]
    (trajectory,) = parsed.images[("chains", label)]
    width, height = png(trajectory).size  # 5 columns (1, 2, 5, 10, 20) of 4 chains at scale 6
    assert width >= (5 * 9 + 1) * 6 and height > (4 * 9 + 1) * 6
    assert len(parsed.images[("inpainting", label)]) == 2  # left-half and bottom-half
    for source in parsed.sources:
        png(source)
    assert len(parsed.sources) == page.runs[0]["images"] == 5
    summary = page.runs[0]
    assert summary["iteration"] == 12 and summary["name"] == "tiny" and summary["notes"] == []
    assert summary["logged"]["reconstruction_mse"]["iteration"] == 12
    assert set(summary["scores"]) == {"reconstruction_mse", "inpaint_left-half_mse",
                                      "inpaint_left-half_psnr", "inpaint_bottom-half_mse",
                                      "inpaint_bottom-half_psnr"}
    # the scores are evaluate's, on the whole test split (not the 4 images shown)
    evaluated = gn.evaluate(eval_run, ["reconstruction", "inpainting"], "cpu", seed=3,
                            masks=["left-half", "bottom-half"])["scores"]
    assert summary["scores"] == pytest.approx(evaluated, rel=1e-9)
    assert f"{summary['scores']['reconstruction_mse']:.4g}" in page.html.split('id="scores"')[1]
    assert "<script" not in page.html and "http://" not in page.html.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")


def test_the_same_seed_gives_the_same_page(eval_run, page):
    assert report.build_report([eval_run], "cpu", steps=20, num=4, seed=3).html == page.html


def test_runs_side_by_side_share_chart_scales(run, eval_run, tmp_path):
    twin = tmp_path / "evaluated"  # the same name as eval_run's directory
    shutil.copytree(eval_run, twin)
    (twin / "checkpoints" / "last.pt").unlink()
    with (twin / "metrics.jsonl").open("a") as f:
        f.write('{"iteration": 40, "d_loss": 9.0, "g_loss": 0.1, "d_real": 0.5, "d_fake": 0.5}\n')
    built = report.build_report([run, eval_run, twin], "cpu", steps=5, num=2, masks=["center"])
    parsed = Page(built.html)
    labels = ["run", "evaluated", "evaluated-2"]
    assert all(parsed.columns[section] == labels for section in SECTIONS)
    assert [r["label"] for r in built.runs] == labels
    assert [r["images"] for r in built.runs] == [len(list((r / "samples").glob("*.png"))) + 2
                                                 for r in (run, eval_run)] + [2]
    assert parsed.curve("training", "evaluated-2", "d_loss")[-1] == 40
    charts = re.findall(r'<svg class="chart".*?</svg>', built.html)
    loss_charts = [c for c in charts if "d_loss" in c]
    axis_labels = {tuple(re.findall(r">([^<>]+)</text>", c)[:12]) for c in loss_charts}
    assert len(loss_charts) == 3 and len(axis_labels) == 1  # same ticks: iterations 0 to 40, loss to 9
    assert "no checkpoints/last.pt" in " ".join(built.runs[2]["notes"])
    logged_row, computed_row = re.findall(r"<tr><th>reconstruction_mse</th>(.*?)</tr>", built.html)
    assert logged_row.count("at 12") == 2 and logged_row.endswith("</td>")
    assert computed_row.count('<td class="num">-</td>') == 1 and computed_row.endswith(
        '<td class="num">-</td>')  # the run without a checkpoint computed nothing


def test_data_that_are_not_images_get_curves_and_a_note(points_run):
    built = report.build_report([points_run], "cpu", steps=5, num=2)
    parsed = Page(built.html)
    assert parsed.sources == [] and built.runs[0]["images"] == 0
    assert parsed.curve("training", "points", "g_loss") == logged(points_run, "g_loss")
    assert "are not images" in built.runs[0]["notes"][0]
    assert "not drawn: the data are not images" in built.html


def test_a_mask_process_adds_the_pit_histogram_of_the_coverage_metric(table_run):
    built = report.build_report([table_run], "cpu", seed=2, missing="random-20")
    evaluated = gn.evaluate(table_run, ["coverage"], "cpu", seed=2, missing="random-20")
    assert Page(built.html).columns["coverage"] == ["wine"]
    section = built.html.split('<section id="coverage">')[1].split("</section>")[0]
    assert "<h2>Calibration of imputations (random-20)</h2>" in section
    pit = evaluated["details"]["coverage"]["pit"]
    shares = [float(v) for v in re.findall(r'<rect class="bar" [^>]*data-share="([^"]+)"', section)]
    assert len(shares) == len(pit) == PIT_BINS
    assert shares == pytest.approx([n / sum(pit) for n in pit], abs=1e-6)
    assert len(re.findall(r'<line class="flat" [^>]*stroke-dasharray', section)) == 1  # 1 / bins
    assert "<h4>PIT histogram</h4>" in section
    assert "flat = calibrated, U-shape = draws too narrow, hump = too wide." in section
    assert built.runs[0]["scores"] == pytest.approx(evaluated["scores"], rel=1e-9)
    assert "computed for this report (35 test items, seed 2)" in built.html
    assert 'id="coverage"' not in report.build_report([table_run], "cpu").html


def test_a_mask_process_that_does_not_fit_is_refused_before_any_chain(table_run):
    with pytest.raises(MaskError, match="table rows take only random-PCT"):
        report.build_report([table_run], "cpu", missing="center", progress=pytest.fail)


def test_a_run_with_metrics_only_gets_curves(eval_run, tmp_path):
    only = tmp_path / 'a<b>&"c'
    only.mkdir()
    (only / "metrics.jsonl").write_text((eval_run / "metrics.jsonl").read_text() + '{"iter')
    built = report.build_report([only], "cpu")
    parsed = Page(built.html)
    assert parsed.columns["training"] == ['a<b>&"c'] and parsed.sources == []
    assert parsed.curve("evaluation", 'a<b>&"c', "reconstruction_mse") == [6, 12]
    assert "a&lt;b&gt;&amp;&quot;c" in built.html and "<b>" not in built.html
    notes = " ".join(built.runs[0]["notes"])
    assert "skipped 1 line(s)" in notes and "no checkpoints/last.pt" in notes


def test_paths_that_are_not_runs_are_refused_before_any_work(run, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "file.txt").write_text("x")
    for path, message in ((tmp_path / "missing", "no such run directory"),
                          (tmp_path / "file.txt", "not a directory"),
                          (tmp_path / "empty", "not a run directory (no metrics.jsonl")):
        with pytest.raises(RunDirectoryError, match=re.escape(message)) as info:
            report.build_report([run, path], "cpu", progress=pytest.fail)
        assert str(path) in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(RunDirectoryError, match="at least one run"):
        report.build_report([], "cpu")


def test_a_mask_that_does_not_fit_is_refused_before_any_chain(run):
    with pytest.raises(MaskError):
        report.build_report([run], "cpu", masks=["nonsense"], progress=pytest.fail)


def test_progress_names_the_run_and_the_work(run):
    calls = []
    report.build_report([run], "cpu", steps=7, num=2, masks=["left-half"],
                        progress=lambda task, done, total: calls.append((task, done, total)))
    assert ("run: chains", 7, 7) in calls
    assert ("run: inpaint left-half", 20, 20) in calls


def test_write_report_checks_the_output_first_and_writes_atomically(run, tmp_path):
    out = tmp_path / "r.html"
    written = report.write_report([run], out, device="cpu", steps=3, num=2)
    assert written.path == out and out.read_text(encoding="utf-8") == written.html
    with pytest.raises(gn.errors.OutputError, match="exists"):
        report.write_report([run], out, device="cpu", progress=pytest.fail)
    with pytest.raises(gn.errors.OutputError, match=r"\.html"):
        report.write_report([run], tmp_path / "r.png", device="cpu", progress=pytest.fail)
    report.write_report([run], out, force=True, device="cpu", steps=3, num=2, seed=1)
    assert out.read_text(encoding="utf-8") != written.html
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]
