"""``gibbsnet evaluate`` (cli/evaluate.py): several runs side by side, --json, FID on and off."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import gibbsnet_plugin as gn
from conftest import tiny_recipe
from gibbsnet_cli.main import cli
from gibbsnet_plugin.metrics.fid import CACHE_ENV
from gibbsnet_plugin.metrics.inception import WEIGHTS_ENV, WEIGHTS_FILE, write_random_weights

pytestmark = pytest.mark.slow
QUICK = ("--labels", 50, "--draws", 2, "--inpaint-steps", 2, "--mask", "left-half",
         "--device", "cpu")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("cli_eval")
    gibbs = gn.train(tiny_recipe(), out=root / "gibbs")
    ali = gn.train(tiny_recipe(model={"chain_steps": 1}), out=root / "ali")
    return gibbs, ali


@pytest.fixture(autouse=True)
def no_weights(tmp_path, monkeypatch):
    """No Inception weights anywhere, a private FID cache, outputs in the test's directory."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    monkeypatch.chdir(tmp_path)


def invoke(*args: object) -> Result:
    return CliRunner().invoke(cli, ["evaluate", *map(str, args)])


def test_two_runs_side_by_side_with_a_note_on_how_to_enable_fid(runs):
    result = invoke(*runs, *QUICK)
    assert result.exit_code == 0, result.stderr
    assert not result.stderr.startswith("\n")  # progress bars only on a terminal, no blank lines
    table = " ".join(result.stdout.split())  # results on stdout, notes on stderr
    assert "chain_steps 2" in table and "chain_steps 1 (ALI)" in table
    for row in ("reconstruction MSE", "inpaint left-half PSNR (dB)", "probe error (%)"):
        assert row in result.stdout and row not in result.stderr
    err = " ".join(result.stderr.split())
    assert err.count("FID skipped") == 1 and WEIGHTS_FILE in err


def test_json_is_one_object_with_a_result_per_run(runs):
    result = invoke(*runs, *QUICK, "--metric", "reconstruction", "--metric", "probe", "--json")
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert [r["run"] for r in record["runs"]] == [str(r) for r in runs]
    assert [r["chain_steps"] for r in record["runs"]] == [2, 1]
    for r in record["runs"]:
        assert list(r["scores"]) == ["reconstruction_mse", "probe_error", "probe_error_std"]
        assert r["details"]["probe"]["labels"] == 50 and r["notes"] == []


def test_tsne_writes_one_figure_per_run(runs, tmp_path):
    result = invoke(*runs, "--metric", "tsne", "--out-dir", tmp_path / "maps", "--device", "cpu")
    assert result.exit_code == 0, result.stderr
    written = sorted(p.name for p in (tmp_path / "maps").iterdir())
    assert written == ["tsne-ali.png", "tsne-gibbs.png"]


def test_tsne_figures_of_checkpoint_files_of_different_runs_do_not_overwrite_each_other(runs, tmp_path):
    # Both are named last.pt: the figures used to be tsne-last.png, the second over the first.
    last = [run / "checkpoints" / "last.pt" for run in runs]
    result = invoke(*last, last[0], "--metric", "tsne", "--out-dir", tmp_path / "maps",
                    "--device", "cpu", "--json")
    assert result.exit_code == 0, result.stderr
    paths = [r["details"]["tsne"]["path"] for r in json.loads(result.stdout)["runs"]]
    assert [Path(p).name for p in paths] == ["tsne-gibbs-last.png", "tsne-ali-last.png",
                                             "tsne-gibbs-last-2.png"]
    assert sorted(p.name for p in (tmp_path / "maps").iterdir()) == sorted(Path(p).name for p in paths)


def test_errors_are_one_line_with_exit_status_2(runs, tmp_path):
    cases = [(("--metric", "fid"), f"download https://github.com/mseitzer/pytorch-fid/releases/"
                                   f"download/fid_weights/{WEIGHTS_FILE} to"),
             (("--metric", "probes"), "unknown metric 'probes'"),
             (("--metric", "fid", "--inception-weights", tmp_path / "w.pth"),
              "--inception-weights"),
             (("--metric", "inpainting", "--mask", "diagonal"), "unknown mask 'diagonal'"),
             (("--metric", "probe", "--labels", 5000), "lower --labels")]
    for args, message in cases:
        result = invoke(runs[0], *args, "--device", "cpu")
        assert result.exit_code == 2, (args, result.stderr)
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
        assert result.stdout == ""


def test_fid_json_records_how_it_was_computed(runs, tmp_path, monkeypatch):
    weights = write_random_weights(tmp_path / "torch")
    result = invoke(runs[1], "--metric", "fid", "--num-samples", 12, "--fid-dims", 64,
                    "--json", "--device", "cpu")
    assert result.exit_code == 0, result.stderr
    fid = json.loads(result.stdout)["runs"][0]["details"]["fid"]
    assert fid["fid"] > 0 and fid["num_samples"] == 12 and fid["chain_steps"] == 1
    assert fid["dims"] == 64 and fid["implementation"].startswith("pytorch-fid 0.3")
    assert len(fid["weights_sha256"]) == 64 and not fid["reference"]["cached"]
    monkeypatch.setenv(WEIGHTS_ENV, str(weights))
    again = invoke(runs[1], "--metric", "fid", "--num-samples", 12, "--fid-dims", 64,
                   "--steps", 3, "--device", "cpu")
    assert again.exit_code == 0, again.stderr
    assert "FID" in again.stdout and "12 samples against the train split" in again.stdout


def test_a_figure_only_metric_prints_no_empty_table(runs):
    result = invoke(runs[0], "--metric", "tsne", "--device", "cpu")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "" and "wrote tsne-gibbs.png" in result.stderr
