"""``gibbsnet fid`` (cli/fid.py): FID of folders and saved statistics, --save-stats, --json, the
download of missing weights, and one-line errors."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch
from click.testing import CliRunner, Result

import gibbsnet_plugin as gn
from conftest import write_pngs
from gibbsnet_cli.main import cli
from gibbsnet_plugin.metrics import inception
from gibbsnet_plugin.metrics.inception import NO_DOWNLOAD_ENV, WEIGHTS_ENV, WEIGHTS_FILE, weights_hash

pytestmark = pytest.mark.slow
QUICK = ("--dims", "64", "--device", "cpu")


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> tuple[Path, Path]:
    """Two folders of 8 PNG images, 16 x 16."""
    root = tmp_path_factory.mktemp("fid_folders")
    generator = torch.Generator().manual_seed(0)
    real = torch.rand(8, 3, 16, 16, generator=generator) * 2 - 1
    fake = (real.flip(2) * 0.5 + 0.5 * torch.rand(real.shape, generator=generator)).clamp(-1, 1)
    return write_pngs(real, root / "real"), write_pngs(fake, root / "fake")


def invoke(*args: object) -> Result:
    return CliRunner().invoke(cli, ["fid", *map(str, args)])


def test_fid_of_two_folders_on_stdout_and_as_json(folders, hub):
    result = invoke(*folders, *QUICK)
    assert result.exit_code == 0, result.stderr
    expected = gn.fid_of_paths(*folders, dims=64, device="cpu")["fid"]
    assert result.stdout == f"FID: {expected}\n" and expected > 0
    assert result.stderr == ("warning: FID statistics of 8 images with 64-d features: the covariance "
                             "is singular (it needs more images than features), so FID is biased "
                             "and unstable; use more than 64 images\n")  # once for both folders
    record = json.loads(invoke(*folders, *QUICK, "--json", "--batch-size", 3).stdout)
    assert record["fid"] == pytest.approx(expected, rel=1e-9)
    assert record["paths"] == [str(p) for p in folders] and record["dims"] == 64
    assert record["count"] == [8, 8] and record["weights_sha256"] == weights_hash(hub)


def test_saved_statistics_give_the_same_fid_and_are_replaced_only_with_force(
        folders, hub, tmp_path):
    real, fake = folders
    saved = invoke("--save-stats", real, tmp_path / "real.npz", *QUICK)
    assert saved.exit_code == 0, saved.stderr
    assert saved.stdout == "" and f"wrote {tmp_path / 'real.npz'} (8 images, 64-d statistics)" in saved.stderr
    assert invoke("--save-stats", fake, tmp_path / "fake.npz", *QUICK, "--json").exit_code == 0
    direct = json.loads(invoke(real, fake, *QUICK, "--json").stdout)
    # --dims comes from the .npz when not given; no weights needed for two .npz
    half = json.loads(invoke(tmp_path / "real.npz", fake, "--device", "cpu", "--json").stdout)
    both = json.loads(invoke(tmp_path / "real.npz", tmp_path / "fake.npz", "--json").stdout)
    assert half["fid"] == pytest.approx(direct["fid"], rel=1e-9) and half["count"] == [8, 8]
    assert both["fid"] == pytest.approx(direct["fid"], rel=1e-9) and both["weights_sha256"] is None

    before = (tmp_path / "real.npz").read_bytes()
    again = invoke("--save-stats", fake, tmp_path / "real.npz", *QUICK)
    assert again.exit_code == 2 and "exists; pass --force" in again.stderr
    assert (tmp_path / "real.npz").read_bytes() == before
    assert invoke("--save-stats", fake, tmp_path / "real.npz", *QUICK, "--force").exit_code == 0
    assert (tmp_path / "real.npz").read_bytes() != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fake.npz", "real.npz"]  # no leftovers


def bad_inputs(root: Path, real: Path) -> dict[str, tuple[list[object], str]]:
    """Each case: arguments of gibbsnet fid and the error expected."""
    (root / "empty").mkdir()
    (root / "empty" / "A.PNG").write_bytes(b"")
    unreadable = root / "unreadable"
    shutil.copytree(real, unreadable)
    (unreadable / "9999.png").write_text("not a png")
    np.savez(root / "other.npz", mean=np.zeros(3))
    np.savez(root / "d64.npz", mu=np.zeros(64), sigma=np.eye(64))
    np.savez(root / "d192.npz", mu=np.zeros(192), sigma=np.eye(192))
    np.savez(root / "count.npz", mu=np.zeros(64), sigma=np.eye(64), count=np.zeros(3))
    np.savez(root / "nan.npz", mu=np.full(64, np.nan), sigma=np.eye(64))
    np.savez(root / "d0.npz", mu=np.zeros(0), sigma=np.zeros((0, 0)))
    return {
        "home": (["~nosuchuser/x", real], "nosuchuser/x: no such folder or file"),
        "count": ([root / "count.npz", real], "count.npz: not a .npz file NumPy reads"),
        "nan": ([root / "nan.npz", real], "nan.npz: mu or sigma holds NaN or infinite values"),
        "empty statistics": ([root / "d0.npz", real], r"expected mu \(d,\) and sigma \(d, d\) with "
                                                      "d >= 1"),
        "missing": ([root / "nope", real], f"{root / 'nope'}: no such folder or file"),
        "empty": ([root / "empty", real], f"{root / 'empty'}: 0 image file.*lower-case endings "
                                          "only: A.PNG not read.; FID needs at least 2"),
        "unreadable": ([unreadable, real], f"{unreadable / '9999.png'}: not an image PIL can read"),
        "not statistics": ([root / "other.npz", real], "holds mean, not FID statistics"),
        "dims": ([root / "d64.npz", root / "d192.npz"], "holds 64-d statistics but .*192-d"),
        "--dims": ([root / "d64.npz", real, "--dims", "2048"], "64-d statistics but --dims is 2048"),
        "--save-stats": (["--save-stats", real, root / "out.png"], "--save-stats .*out.png: expected "
                                                                   "a file name ending in .npz"),
    }


def test_bad_input_is_one_line_and_status_2(folders, hub, tmp_path):
    for case, (args, message) in bad_inputs(tmp_path, folders[0]).items():
        result = invoke(*args, "--device", "cpu")
        assert result.exit_code == 2, (case, result.stderr)
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, case
        assert re.search(message, result.stderr), (case, result.stderr)
    assert not (tmp_path / "out.png").exists()


def test_missing_weights_are_downloaded_after_one_line_unless_turned_off(
        folders, torch_home, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    monkeypatch.delenv(NO_DOWNLOAD_ENV, raising=False)
    random_weights = torch_home / "hub" / "checkpoints" / WEIGHTS_FILE
    monkeypatch.setattr(inception, "WEIGHTS_SHA256_PREFIX", weights_hash(random_weights)[:8])
    destination = tmp_path / "home" / "hub" / "checkpoints" / WEIGHTS_FILE

    def offline(url, dst, hash_prefix=None, progress=True):
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    failed = invoke(*folders, *QUICK)
    assert failed.exit_code == 1 and failed.stdout == ""  # the network failed: the environment
    assert failed.stderr.splitlines() == [
        f"downloading Inception weights (91 MB) to {destination}",
        f"error: FID needs pytorch-fid's Inception weights: download {inception.WEIGHTS_URL} to "
        f"{destination} (keep the name {WEIGHTS_FILE}), or pass --inception-weights PATH or set "
        f"{WEIGHTS_ENV}=PATH; downloading it failed: <urlopen error [Errno -3] Temporary failure "
        "in name resolution>"]
    monkeypatch.setenv(NO_DOWNLOAD_ENV, "1")
    assert "GIBBSNET_NO_DOWNLOAD is set" in invoke(*folders, *QUICK).stderr
    monkeypatch.delenv(NO_DOWNLOAD_ENV)

    monkeypatch.setattr(torch.hub, "download_url_to_file",
                        lambda url, dst, hash_prefix=None, progress=True:
                        shutil.copy(random_weights, dst))
    result = invoke(*folders, *QUICK)
    assert result.exit_code == 0, result.stderr
    assert result.stderr.startswith(f"downloading Inception weights (91 MB) to {destination}\n")
    assert result.stdout.startswith("FID: ") and destination.is_file()


def test_help_loads_neither_torch_nor_the_library():
    code = ("import sys\nfrom gibbsnet_cli.main import main\ntry:\n    main(['fid', '--help'])\n"
            "except SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith(('gibbsnet_plugin.', 'torch'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "--save-stats" in out.stdout
    assert out.stdout.splitlines()[-1] in ("[]", "['gibbsnet_plugin.errors', 'gibbsnet_plugin.limits']")
