"""The test-time commands (cli/testtime.py): sample, inpaint, reconstruct, interpolate, and
every command's refusal of malformed input (damaged checkpoints, images, data files, masks)."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from click.testing import CliRunner, Result
from PIL import Image

import gibbsnet_plugin as gn
from gibbsnet_cli.main import cli
from gibbsnet_cli.ui import chain_progress
from gibbsnet_plugin.architectures.norms import chain_step

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    """Default output files (sample.png, ...) land in the test's directory."""
    monkeypatch.chdir(tmp_path)


def invoke(*args: object) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


def ok(*args: object) -> Result:
    result = invoke(*args, "--device", "cpu")
    assert result.exit_code == 0, result.stderr
    return result


def png(path: Path, pixels: np.ndarray) -> Path:
    Image.fromarray(pixels.astype(np.uint8)).save(path, format="PNG")
    return path


def size(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size


def test_sample_writes_a_grid_or_the_raw_array(run, tmp_path):
    result = ok("sample", run, "--num", 6, "--steps", 3, "--out", tmp_path / "s.npy")
    x = np.load(tmp_path / "s.npy")
    assert x.shape == (6, 1, 8, 8) and x.dtype == np.float32 and np.abs(x).max() <= 1
    assert result.stdout == "" and "wrote" in result.stderr and "6 chains × 3 steps" in result.stderr
    ok("sample", run, "--num", 6, "--steps", 3, "--out", tmp_path / "s.png", "--scale", 2)
    assert size(tmp_path / "s.png") == ((2 * 9 + 1) * 2, (3 * 9 + 1) * 2)  # 3 rows of 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.npy", "s.png"]


def test_the_same_seed_gives_the_same_files_and_another_seed_other_samples(run, tmp_path):
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        for suffix in (".png", ".npy"):
            ok("sample", run, "--num", 4, "--steps", 5, "--seed", seed, "--out", tmp_path / f"{name}{suffix}")
    for suffix in (".png", ".npy"):
        assert (tmp_path / f"a{suffix}").read_bytes() == (tmp_path / f"b{suffix}").read_bytes()
    assert not np.array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "c.npy"))


def test_one_step_is_one_decoder_pass_from_the_prior(run, tmp_path):
    ok("sample", run, "--num", 5, "--steps", 1, "--seed", 11, "--out", tmp_path / "x.npy")
    model = gn.load_model(run, device="cpu")
    torch.manual_seed(11)
    with torch.no_grad(), chain_step(1):  # step 1's batch-norm statistics
        expected = model.decode(model.prior(5))
    assert np.array_equal(np.load(tmp_path / "x.npy"), expected.numpy())


def test_trajectory_and_gif(run, tmp_path):
    ok("sample", run, "--num", 3, "--steps", 150, "--trajectory", tmp_path / "t.png", "--at", "1,2,50",
       "--gif", tmp_path / "c.gif", "--out", tmp_path / "s.png")
    width, height = size(tmp_path / "t.png")
    assert width >= 3 * 9 + 1 and height > 3 * 9 + 1  # 3 columns, 3 rows and a header
    with Image.open(tmp_path / "c.gif") as gif:
        assert gif.n_frames == 100
    ok("sample", run, "--num", 3, "--steps", 30, "--trajectory", tmp_path / "d.png",
       "--out", tmp_path / "d.npy")
    assert size(tmp_path / "d.png")[0] >= 6 * 9 + 1  # default columns 1, 2, 5, 10, 20, 30
    alone = invoke("sample", run, "--at", "1,2", "--out", tmp_path / "e.png")
    assert alone.exit_code == 2 and "--at chooses the columns of --trajectory" in alone.stderr
    bad = invoke("sample", run, "--trajectory", tmp_path / "e.png", "--at", "0,2")
    assert bad.exit_code == 2 and "expected chain steps between 1 and 1,000,000" in bad.stderr
    assert not (tmp_path / "e.png").exists()


def test_sample_from_images(run, tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for i in range(3):
        png(images / f"{i}.png", np.full((8, 8), 80 * i))
    ok("sample", run, "--from-images", images, "--steps", 4, "--out", tmp_path / "x.npy",
       "--trajectory", tmp_path / "t.png", "--at", "1,4")
    assert np.load(tmp_path / "x.npy").shape == (3, 1, 8, 8)
    ok("sample", run, "--from-images", images, "--steps", 4, "--out", tmp_path / "x.png")
    width, height = size(tmp_path / "x.png")
    assert height == 2 * 9 + 1 and width > 3 * 9 + 1  # rows "input" and "step 4", labelled


def test_inpaint_json_is_the_only_thing_on_stdout(run, tmp_path):
    result = ok("inpaint", run, "--mask", "left-half", "--num", 5, "--steps", 3, "--json",
                "--out", tmp_path / "i.png")
    record = json.loads(result.stdout)
    assert result.stdout.count("\n") == 1
    assert record["num"] == 5 and record["mask"] == "left-half" and record["hidden_fraction"] == 0.5
    assert record["psnr"] == pytest.approx(10 * np.log10(4 / record["mse"]))
    assert len(record["mse_per_image"]) == 5 and record["out"] == str(tmp_path / "i.png")
    assert (tmp_path / "i.png").exists()
    human = ok("inpaint", run, "--mask", "left-half", "--num", 5, "--steps", 3, "--out", tmp_path / "j.png")
    assert f"MSE {record['mse']:.4f}, PSNR {record['psnr']:.2f} dB" in human.stdout
    assert "wrote" in human.stderr and "MSE" not in human.stderr
    assert (tmp_path / "i.png").read_bytes() == (tmp_path / "j.png").read_bytes()


def test_inpaint_own_images_with_a_mask_image(run, tmp_path):
    mask = np.full((8, 8), 255)
    mask[:, :3] = 0
    png(tmp_path / "mask.png", mask)
    png(tmp_path / "big.png", np.arange(256).reshape(16, 16))
    result = ok("inpaint", run, "--mask", tmp_path / "mask.png", "--input", tmp_path / "big.png",
                "--json", "--out", tmp_path / "i.png")
    record = json.loads(result.stdout)
    assert record["num"] == 1 and record["hidden_fraction"] == pytest.approx(3 / 8)
    assert "resized 1 of 1 images to 8×8" in result.stderr
    assert size(tmp_path / "i.png")[1] == 3 * 9 + 1


def test_outputs_are_not_replaced_without_force(run, tmp_path):
    ok("reconstruct", run, "--num", 2, "--out", tmp_path / "r.png")
    before = (tmp_path / "r.png").read_bytes()
    refused = invoke("reconstruct", run, "--num", 3, "--out", tmp_path / "r.png")
    assert refused.exit_code == 2
    assert "r.png: exists; pass --force to replace it" in refused.stderr
    assert (tmp_path / "r.png").read_bytes() == before
    ok("reconstruct", run, "--num", 3, "--out", tmp_path / "r.png", "--force")
    assert (tmp_path / "r.png").read_bytes() != before
    ok("sample", run, "--num", 2, "--steps", 2)  # the default sample.png, in the current directory
    assert invoke("sample", run, "--num", 2, "--steps", 2).exit_code == 2


def test_json_on_sample_and_interpolate_names_what_was_written(run, tmp_path):
    record = json.loads(ok("sample", run, "--num", 3, "--steps", 4, "--trajectory",
                           tmp_path / "t.png", "--json", "--out", tmp_path / "s.png").stdout)
    assert record["files"] == [str(tmp_path / "s.png"), str(tmp_path / "t.png")]
    assert record["num"] == 3 and record["steps"] == 4 and record["seconds"] > 0
    record = json.loads(ok("interpolate", run, "--pairs", 2, "--points", 4, "--json",
                           "--out", tmp_path / "l.png").stdout)
    assert record["pairs"] == 2 and record["points"] == 4 and record["out"] == str(tmp_path / "l.png")


@pytest.mark.parametrize(("words", "index"), [("gibbsnet sample ", 2),
                                               ("gibbsnet sample RUN --out ", 4),
                                               ("gibbsnet evaluate ", 2)])
def test_shell_completion_completes_paths_for_runs_and_outputs(words, index):
    result = CliRunner().invoke(cli, [], prog_name="gibbsnet", env={
        "_GIBBSNET_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(index)})
    assert result.output.splitlines() == ["file,"]


def test_reconstruct_and_interpolate(run, tmp_path):
    result = ok("reconstruct", run, "--num", 4, "--json", "--out", tmp_path / "r.png")
    record = json.loads(result.stdout)
    assert record["num"] == 4 and record["mse"] > 0 and len(record["mse_per_image"]) == 4
    ok("interpolate", run, "--pairs", 2, "--points", 5, "--out", tmp_path / "l.png")
    assert size(tmp_path / "l.png") == (7 * 9 + 1, 2 * 9 + 1)
    ok("interpolate", run, "--pairs", 2, "--points", 5, "--chain", 3, "--out", tmp_path / "c.png")
    assert size(tmp_path / "c.png")[1] == 5 * 9 + 1  # line, chain, blank, line, chain


def flip_in_pickle(checkpoint: Path, target: Path) -> Path:
    """``checkpoint`` written to ``target`` with one byte of its pickled part (data.pkl) flipped:
    in the recipe's name, so that the pickle and the recipe stay well-formed and only the
    archive's CRC-32 tells."""
    data = bytearray(checkpoint.read_bytes())
    name = b"X\x04\x00\x00\x00tiny"  # the recipe's name, pickled as BINUNICODE (length, UTF-8)
    assert data.count(name) == 1
    data[data.index(name) + len(name) - 2] ^= 0x20  # tiny -> tiNy
    target.write_bytes(bytes(data))
    return target


def with_data(run: Path, target: Path, data: dict) -> Path:
    """The last checkpoint of ``run`` written to ``target`` with ``data`` in its recipe's data
    section: the same model, reading another data set."""
    ckpt = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    ckpt["meta"]["recipe"]["data"].update(data)
    torch.save(ckpt, target)
    return target


def folder_of(directory: Path, files: dict[str, bytes]) -> Path:
    """A directory holding ``files`` (name -> bytes)."""
    directory.mkdir()
    for name, data in files.items():
        (directory / name).write_bytes(data)
    return directory


def bad_inputs(tmp_path: Path, run: Path) -> dict[str, Path]:
    paths = {"run": run, "empty": tmp_path / "emptydir", "text": tmp_path / "notes.txt",
             "image": tmp_path / "image.png", "other": tmp_path / "other.pt",
             "corrupt": tmp_path / "corrupt.png", "mask10": tmp_path / "mask10.png",
             "white": tmp_path / "white.png", "black": tmp_path / "black.png",
             "huge": tmp_path / "huge.png"}
    paths["flipped"] = flip_in_pickle(run / "checkpoints" / "last.pt", tmp_path / "flipped.pt")
    buffer = io.BytesIO()  # noise compresses badly: the pixels are most of the file
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32), np.uint8)).save(buffer, "PNG")
    whole = buffer.getvalue()
    for name, image in (("garbage", b"this is not an image"), ("truncated", whole[: len(whole) // 2])):
        root = folder_of(tmp_path / f"{name}-folder", {"a.png": image, "b.png": image})
        paths[name] = with_data(run, tmp_path / f"{name}.pt", {
            "dataset": "folder", "root": str(root),
            "options": {"size": 8, "channels": 1, "test_fraction": 0.5}})
    svhn = tmp_path / "svhn"
    svhn.mkdir()
    scipy.io.savemat(svhn / "test_32x32.mat", {"X": np.zeros((32, 32, 3, 4), np.uint8),
                                               "y": np.ones((4, 1), np.uint8)})
    mat = (svhn / "test_32x32.mat").read_bytes()
    (svhn / "test_32x32.mat").write_bytes(mat[: len(mat) // 2])  # a download cut short
    paths["svhn"] = with_data(run, tmp_path / "svhn.pt", {"dataset": "svhn", "root": str(svhn),
                                                          "options": {}})
    Image.new("L", (9000, 9000)).save(paths["huge"])  # 81 megapixels in a few kB
    paths["empty"].mkdir()
    paths["text"].write_text("not a checkpoint")
    png(paths["image"], np.zeros((8, 8)))
    ckpt = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    ckpt["meta"]["recipe"]["model"]["architecture"] = "conv8"
    ckpt["meta"]["recipe"]["model"]["options"] = {}
    torch.save(ckpt, paths["other"])
    paths["corrupt"].write_bytes(b"\x89PNG\r\n\x1a\n broken")
    png(paths["mask10"], np.full((10, 10), 255) * (np.arange(10) < 5))
    png(paths["white"], np.full((8, 8), 255))
    png(paths["black"], np.zeros((8, 8)))
    return paths


@pytest.mark.parametrize(("args", "message"), [
    (["inpaint", "{run}", "--mask", "{mask10}"], "mask10.png: the mask image is 10×10 pixels; expected 8×8"),
    (["inpaint", "{run}", "--mask", "{corrupt}"], "corrupt.png: not a readable image"),
    (["inpaint", "{run}", "--mask", "left-half", "--input", "{corrupt}"],
     "corrupt.png: not a readable image"),
    (["sample", "{run}", "--from-images", "{corrupt}"], "corrupt.png: not a readable image"),
    (["inpaint", "{run}", "--mask", "{white}"], "the mask hides nothing"),
    (["inpaint", "{run}", "--mask", "{black}"], "the mask observes nothing"),
    (["inpaint", "{run}", "--mask", "random-0"], "between 0 and 100"),
    (["inpaint", "{run}", "--mask", "middle"], "unknown mask 'middle'; expected one of left-half"),
    (["sample", "{empty}"], "expected a run directory (with checkpoints/last.pt) or a checkpoint file"),
    (["sample", "{text}"], "not a checkpoint; expected a run directory or a checkpoint file"),
    (["reconstruct", "{image}"], "not a checkpoint; expected a run directory or a checkpoint file"),
    (["interpolate", "{other}"], "the weights do not fit architecture 'conv8'"),
    (["sample", "{run}", "--out", "{tmp}/out.jpg"], "expected a file name ending in .png or .npy"),
    (["sample", "{run}", "--gif", "{tmp}/out.png"], "--gif"),
    (["sample", "{run}", "--out", "{tmp}/s.png", "--trajectory", "{text}/t.png"],
     "notes.txt is a file, not a directory"),
    (["sample", "{run}", "--out", "{tmp}/s.png", "--gif", "/dev/null/t.gif"],
     "--gif /dev/null/t.gif: cannot be written: /dev/null is a file, not a directory"),
    (["reconstruct", "{run}", "--out", "{tmp}/" + "a" * 300 + ".png"], "longer than 200 bytes"),
    (["inpaint", "{run}", "--mask", "left-half", "--input", "{huge}"],
     "9000 × 9000 pixels is more than the limit of 64 megapixels"),
    (["sample", "{flipped}"], "flipped.pt: a damaged or foreign checkpoint: the bytes of"),
    (["reconstruct", "{garbage}"], "a.png: not a readable image (cannot identify image file"),
    (["reconstruct", "{truncated}", "--split", "train"], "not a readable image (image file is truncated)"),
    (["inpaint", "{svhn}", "--mask", "left-half"],
     "test_32x32.mat: damaged or incomplete SVHN data"),
    (["inpaint", "{run}", "--mask", "m" * 400], "unknown mask 'mmmmm"),
    (["inpaint", "{run}", "--mask", "m" * 400 + ".png"], "expected one of left-half, right-half"),
    (["inpaint", "{run}", "--mask", "random-" + "9" * 400], "between 0 and 100"),
])
def test_bad_input_is_one_line_with_status_2_and_writes_nothing(tmp_path, run, args, message):
    paths = bad_inputs(tmp_path, run)
    before = sorted(tmp_path.rglob("*"))
    out = tmp_path / "result.png"
    args = [a.format(tmp=tmp_path, **paths) for a in args]
    if "--out" not in args:
        args += ["--out", str(out)]
    result = invoke(*args, "--device", "cpu")
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert message in result.stderr and "Traceback" not in result.stderr
    assert "internal error" not in result.stderr and len(result.stderr) < 700
    assert result.stdout == ""
    assert sorted(tmp_path.rglob("*")) == before


@pytest.fixture(scope="module")
def flipped_run(run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of ``run`` whose checkpoints/last.pt has one byte of its pickled part flipped."""
    copy = tmp_path_factory.mktemp("flipped") / "run"
    shutil.copytree(run, copy)
    flip_in_pickle(run / "checkpoints" / "last.pt", copy / "checkpoints" / "last.pt")
    return copy


@pytest.mark.parametrize("args", [
    ["sample", "{run}", "--out", "{tmp}/s.png"],
    ["inpaint", "{run}", "--mask", "left-half", "--out", "{tmp}/i.png"],
    ["reconstruct", "{run}", "--out", "{tmp}/r.png"],
    ["interpolate", "{run}", "--out", "{tmp}/l.png"],
    ["export", "{run}", "--out", "{tmp}/exported"],
    ["impute", "{run}", "{tmp}/table.csv", "--out", "{tmp}/filled.csv"],
    ["evaluate", "{run}", "--metric", "reconstruction", "--out-dir", "{tmp}"],
    ["report", "{run}", "--out", "{tmp}/report.html"],
    ["train", "--resume", "{run}"],
], ids=lambda args: args[0])
def test_a_checkpoint_with_a_flipped_byte_is_refused_by_every_command_that_loads_it(
        flipped_run, tmp_path, args):
    (tmp_path / "table.csv").write_text("a,b\n1,\n")
    before = sorted(tmp_path.rglob("*"))
    result = invoke(*[a.format(run=flipped_run, tmp=tmp_path) for a in args])
    assert result.exit_code == 2, result.stderr
    last = flipped_run / "checkpoints" / "last.pt"
    assert result.stderr.startswith(f"error: {last}: a damaged or foreign checkpoint: the bytes of ")
    assert "data.pkl do not match the CRC-32 saved with them" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert sorted(tmp_path.rglob("*")) == before


def test_long_chains_get_a_progress_callback():
    with chain_progress("sample", 10) as short:
        assert short is None
    with chain_progress("sample", 10_000) as long:
        long(5000)
        long(10_000)


def test_a_seed_beyond_64_bits_is_a_usage_error(run):
    result = CliRunner().invoke(cli, ["sample", str(run), "--seed", str(2**64)])
    assert result.exit_code == 2 and "--seed" in result.stderr and "Traceback" not in result.stderr


def test_what_is_wrong_first_is_said_first_in_one_line(run, tmp_path):
    Path("sample.png").write_bytes(b"")
    missing = invoke("sample", tmp_path / "nowhere")
    assert missing.exit_code == 2
    assert missing.stderr == f"error: {tmp_path / 'nowhere'}: no such run directory or checkpoint file\n"
    only_steps = tmp_path / "only-steps"
    (only_steps / "checkpoints").mkdir(parents=True)
    step = (run / "checkpoints" / "step_0000006.pt").read_bytes()
    (only_steps / "checkpoints" / "step_0000006.pt").write_bytes(step)
    listed = invoke("sample", only_steps, "--out", "x.png")
    assert listed.exit_code == 2 and "it has step_0000006.pt: pass one of them" in listed.stderr
    scaled = invoke("sample", run, "--out", "x.npy", "--scale", "3")
    assert scaled.exit_code == 2 and "--scale enlarges figures" in scaled.stderr
    assert scaled.stderr.count("\n") == 1 and not Path("x.npy").exists()
    ok("sample", run, "--out", "x.npy", "--scale", "3", "--trajectory", "t.png")  # --scale is for t.png
    nul = invoke("sample", run, "--out", "a\0b.png")
    assert nul.exit_code == 2 and nul.stderr == "error: a path contains a NUL character (\\0); remove it\n"
    huge = invoke("inpaint", run, "--mask", "random-1000000000000")
    assert huge.exit_code == 2 and "between 0 and 100" in huge.stderr


def test_a_checkpoint_whose_moving_averages_are_damaged_is_named_in_one_line(run, tmp_path):
    ckpt = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    ckpt["ema"] = {"encoder.nothing": torch.zeros(3)}
    torch.save(ckpt, tmp_path / "bad.pt")
    for command in (["sample"], ["inpaint", "--mask", "left-half"], ["reconstruct"], ["interpolate"]):
        result = invoke(*command, tmp_path / "bad.pt", "--out", tmp_path / f"{command[0]}.png")
        assert result.exit_code == 2 and "its moving averages ('ema') do not fit the model" in result.stderr
        assert result.stderr.count("\n") == 1


def test_export_then_every_test_time_command_reads_the_directory(run, tmp_path):
    result = invoke("export", run, "--out", tmp_path / "m", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["weights"] == "raw"
    ok("sample", run, "--num", 6, "--steps", 3, "--out", tmp_path / "run.npy")
    ok("sample", tmp_path / "m", "--num", 6, "--steps", 3, "--out", tmp_path / "export.npy")
    assert np.array_equal(np.load(tmp_path / "run.npy"), np.load(tmp_path / "export.npy"))
    ok("inpaint", tmp_path / "m", "--mask", "right-half", "--num", 4, "--out", tmp_path / "i.png")
    again = invoke("export", run, "--out", tmp_path / "m")
    assert again.exit_code == 2 and "pass --force to replace them" in again.stderr


def test_every_existing_output_is_named_in_one_message(run, tmp_path):
    for name in ("s.png", "t.png", "g.gif"):
        (tmp_path / name).write_bytes(b"kept")
    result = invoke("sample", run, "--out", tmp_path / "s.png", "--trajectory", tmp_path / "t.png",
                    "--gif", tmp_path / "g.gif")
    assert result.exit_code == 2
    assert (f"--out {tmp_path / 's.png'}, --trajectory {tmp_path / 't.png'} and --gif "
            f"{tmp_path / 'g.gif'}: exist; pass --force to replace them") in result.stderr
    assert all((tmp_path / name).read_bytes() == b"kept" for name in ("s.png", "t.png", "g.gif"))
