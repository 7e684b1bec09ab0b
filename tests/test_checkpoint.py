"""Run directories and checkpoints (gibbsnet_plugin/checkpoint.py, gibbsnet_plugin/run_state.py)."""

from __future__ import annotations

import random
import re
import struct
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gibbsnet_plugin as gn
from conftest import tiny_recipe
from gibbsnet_plugin.checkpoint import read_checkpoint, resolve_checkpoint
from gibbsnet_plugin.errors import GibbsnetError, OutputError
from gibbsnet_plugin.run_state import RNGStates


def test_rng_states_round_trip_through_a_weights_only_checkpoint(tmp_path):
    torch.manual_seed(1)
    random.seed(2)
    np.random.seed(3)
    np.random.normal()  # leaves a cached Gaussian in NumPy's legacy state
    path = tmp_path / "rng.pt"
    torch.save({"rng": RNGStates().state_dict()}, path)
    expected = (torch.rand(3), random.random(), np.random.normal(), np.random.rand(2))
    RNGStates().load_state_dict(torch.load(path, weights_only=True)["rng"])
    again = (torch.rand(3), random.random(), np.random.normal(), np.random.rand(2))
    assert torch.equal(expected[0], again[0]) and expected[1] == again[1]
    assert expected[2] == again[2] and np.array_equal(expected[3], again[3])


def test_read_checkpoint_refuses_files_that_are_not_checkpoints(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_text("not a checkpoint")
    with pytest.raises(GibbsnetError, match="junk.pt: not a checkpoint; expected a run directory"):
        read_checkpoint(junk)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    with pytest.raises(GibbsnetError, match="other.pt: not a gibbsnet checkpoint"):
        read_checkpoint(other)


def test_resolve_checkpoint_explains_what_was_expected(tmp_path):
    with pytest.raises(GibbsnetError, match="no such run directory or checkpoint file"):
        resolve_checkpoint(tmp_path / "missing")
    with pytest.raises(GibbsnetError, match=r"expected a run directory \(with checkpoints/last.pt\)"):
        resolve_checkpoint(tmp_path)


@pytest.mark.slow
def test_load_model_rebuilds_the_architecture_and_refuses_mismatched_weights(tmp_path):
    run = gn.train(tiny_recipe(train={"iterations": 2, "checkpoint_every": 2}), out=tmp_path / "run")
    model = gn.load_model(run / "checkpoints" / "last.pt", device="cpu")
    assert isinstance(model, gn.GibbsNet) and not model.training
    ckpt = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    ckpt["meta"]["recipe"]["model"]["options"] = {"hidden": [16]}
    torch.save(ckpt, tmp_path / "other.pt")
    with pytest.raises(GibbsnetError, match=r"do not fit architecture 'mlp' .*shape of"):
        gn.load_model(tmp_path / "other.pt", device="cpu")


def test_a_resumed_run_removes_the_temporary_files_of_killed_runs(tmp_path):
    from gibbsnet_plugin.rundir import RunDir

    out = gn.train(tiny_recipe(), out=tmp_path / "run")
    stale = [out / "checkpoints" / "tmpab12_x9z", out / ".recipe.yaml.4242.tmp",
             out / "samples" / ".step_0000006.png.77.tmp"]
    kept = [out / "checkpoints" / "notes.txt", out / "tmp-results.json", out / "tmpnotes"]
    for path in stale + kept:
        path.write_text("partial")
    gn.train(tiny_recipe(train={"iterations": 14}), out=out, resume=True)
    assert not any(path.exists() for path in stale) and all(path.exists() for path in kept)
    assert RunDir(tmp_path / "nothing-here").remove_stale_temporaries() == []


def _member_start(data: bytes, info: zipfile.ZipInfo) -> int:
    """Where the bytes of the (stored, uncompressed) archive member ``info`` begin in ``data``."""
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26: info.header_offset + 30])
    return info.header_offset + 30 + name_len + extra_len


def _flip_inside_a_tensor(data: bytes, path, entry: int = 0) -> bytes:
    infos = [i for i in zipfile.ZipFile(path).infolist() if "/data/" in i.filename and i.file_size]
    info = infos[entry]
    damaged = bytearray(data)
    damaged[_member_start(data, info) + info.file_size // 2] ^= 0x55
    return bytes(damaged)


def test_damaged_checkpoints_are_refused_by_their_checksums(run, tmp_path):
    last = run / "checkpoints" / "last.pt"
    data = last.read_bytes()
    assert set(read_checkpoint(last)["meta"]["sha256"]) == {
        "model", "optimizer_d", "optimizer_g", "trainer", "rng"}
    count = sum(1 for i in zipfile.ZipFile(last).infolist() if "/data/" in i.filename and i.file_size)
    for entry in range(0, count, max(1, count // 8)):
        damaged = tmp_path / f"flipped{entry}.pt"
        damaged.write_bytes(_flip_inside_a_tensor(data, last, entry))
        with pytest.raises(GibbsnetError, match=r"a damaged or foreign checkpoint: the bytes of "
                                                r"\S+/data/\d+ do not match the CRC-32"):
            read_checkpoint(damaged)
    for name in ("model", "rng"):
        ckpt = torch.load(last, weights_only=True)
        tensor = next(t for t in ckpt[name].values() if isinstance(t, torch.Tensor))
        tensor.view(torch.uint8).view(-1)[0] ^= 0x55
        resaved = tmp_path / f"resaved-{name}.pt"  # sound CRC-32s: only the sha256 of meta tells
        torch.save(ckpt, resaved)
        with pytest.raises(GibbsnetError, match=r"a damaged or foreign checkpoint: the tensors of "
                                                f"'{name}' do not match the checksum"):
            read_checkpoint(resaved)
    appended = tmp_path / "appended.pt"
    appended.write_bytes(data + b"\0" * 10)
    with pytest.raises(GibbsnetError, match="bytes after the end of its archive"):
        read_checkpoint(appended)


def test_a_flipped_byte_in_the_pickled_part_is_refused_by_its_crc(run, tmp_path):
    """The recipe and the names of the entries are pickled in data.pkl, outside the tensors that
    meta's sha256 covers; many flips there still unpickle, and the archive's CRC-32 tells."""
    last = run / "checkpoints" / "last.pt"
    data = last.read_bytes()
    info = next(i for i in zipfile.ZipFile(last).infolist() if i.filename.endswith("/data.pkl"))
    start = _member_start(data, info)
    damaged = tmp_path / "flipped.pt"
    for offset in range(0, info.file_size, max(1, info.file_size // 40)):
        flipped = bytearray(data)
        flipped[start + offset] ^= 0x55
        damaged.write_bytes(bytes(flipped))
        with pytest.raises(GibbsnetError, match=r"flipped\.pt: a damaged or foreign checkpoint: the "
                                                r"bytes of \S+/data\.pkl do not match the CRC-32"):
            read_checkpoint(damaged)


@pytest.mark.parametrize("change, words", [
    (lambda c: c["meta"].pop("recipe"), "'meta' holds no recipe"),
    (lambda c: c["meta"].update(x_shape=None), "'meta.x_shape' is not a data shape"),
    (lambda c: c["meta"].update(x_shape=[1, 10**9, 10**9]), "'meta.x_shape' is not a data shape"),
    (lambda c: c.update(model=torch.zeros(3)), "'model' is not a mapping of names to tensors"),
    (lambda c: c.update(ema={"encoder.w": [1, 2]}), "'ema' is not a mapping of names to tensors"),
])
def test_well_formed_but_wrong_checkpoints_are_refused_before_use(run, tmp_path, change, words):
    from click.testing import CliRunner

    from gibbsnet_cli.main import cli

    ckpt = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    change(ckpt)
    path = tmp_path / "crafted.pt"
    torch.save(ckpt, path)
    with pytest.raises(GibbsnetError, match=re.escape(words)):
        read_checkpoint(path)
    result = CliRunner().invoke(cli, ["sample", str(path), "--out", str(tmp_path / "s.png")])
    assert result.exit_code == 2 and words in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "s.png").exists()


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(data=st.binary(max_size=2000))
def test_any_bytes_give_a_checkpoint_error_in_one_line(data):
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "last.pt"
        path.write_bytes(data)
        with pytest.raises(GibbsnetError) as info:
            read_checkpoint(path)
        assert "\n" not in str(info.value)


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)),
                      min_size=1, max_size=4),
       cut=st.sampled_from([None, 0.5, 0.99]))
def test_a_damaged_checkpoint_is_refused_or_reads_back_its_own_tensors(run, edits, cut):
    original = (run / "checkpoints" / "last.pt").read_bytes()
    clean = read_checkpoint(run / "checkpoints" / "last.pt")
    expected = clean["model"]
    data = bytearray(original)
    for where, value in edits:
        data[int(where * len(data))] = value
    if cut is not None:
        data = data[: int(cut * len(data))]
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "last.pt"
        path.write_bytes(bytes(data))
        try:
            read = read_checkpoint(path)
        except GibbsnetError as exc:
            assert "\n" not in str(exc)
        else:
            got = read["model"]
            assert read["recipe"] == clean["recipe"] and got.keys() == expected.keys()
            assert all(torch.equal(got[k], v) for k, v in expected.items())


def test_a_saved_recipe_holds_every_architecture_option(run):
    saved = read_checkpoint(run / "checkpoints" / "last.pt")["meta"]["recipe"]
    # tiny_recipe gives only `hidden`; the rest are the factory's defaults, written out
    assert set(saved["model"]["options"]) >= {"hidden", "norm", "standardize", "dropout", "posterior"}
    assert saved["model"]["options"]["hidden"] == [32]


def test_a_format_1_checkpoint_is_rebuilt_with_the_option_defaults_of_that_version(tmp_path):
    """gibbsnet 0.1 saved recipes without the architecture's defaults; its conv8 had dropout 0.2
    in D. Such a checkpoint still loads with the networks it was trained with."""
    recipe = tiny_recipe(model={"architecture": "conv8", "options": {"dropout": 0.2}},
                         train={"iterations": 2, "checkpoint_every": 2, "sample_every": 0})
    out = gn.train(recipe, out=tmp_path / "v1")
    last = out / "checkpoints" / "last.pt"
    ckpt = torch.load(last, weights_only=True)
    ckpt["meta"]["format"] = 1
    ckpt["meta"]["recipe"]["model"]["options"] = {}
    torch.save(ckpt, tmp_path / "v1.pt")

    def dropout(model: torch.nn.Module) -> set[float]:
        return {m.p for m in model.discriminator.modules() if isinstance(m, torch.nn.Dropout)}

    old, new = gn.load_model(tmp_path / "v1.pt", device="cpu"), gn.load_model(last, device="cpu")
    assert dropout(old) == {0.2}
    torch.manual_seed(0)
    a = old.sample(3)
    torch.manual_seed(0)
    assert torch.equal(a, new.sample(3))
    # the same file saved by this version means this version's defaults (no dropout in D, whose
    # layers then sit elsewhere): the weights do not fit
    ckpt["meta"]["format"] = 2
    torch.save(ckpt, tmp_path / "v2.pt")
    with pytest.raises(GibbsnetError, match="the weights do not fit architecture 'conv8'"):
        gn.load_model(tmp_path / "v2.pt", device="cpu")


@pytest.mark.slow
def test_an_exported_model_samples_bit_identically_to_its_run(tmp_path):
    run = gn.train(tiny_recipe(train={"ema": 0.9}, eval={"metrics": ["reconstruction"], "every": 12}),
                   out=tmp_path / "run")
    result = gn.export_model(run, tmp_path / "export")
    assert result["weights"] == "ema"
    assert sorted(p.name for p in (tmp_path / "export").iterdir()) == ["README.md", "model.safetensors",
                                                                      "recipe.yaml"]
    exported, original = gn.load_model(tmp_path / "export"), gn.load_model(run)
    for model in (exported, original):
        torch.manual_seed(3)
        model.samples = model.sample(16, 5)
    assert torch.equal(exported.samples, original.samples)
    assert gn.load_recipe(tmp_path / "export" / "recipe.yaml") == gn.load_recipe(run / "recipe.yaml")
    card = (tmp_path / "export" / "README.md").read_text()
    assert "# tiny" in card and "digits, items of shape 1×8×8" in card
    assert "12 of 12 iterations" in card and "| reconstruction_mse |" in card

    raw = gn.export_model(run, tmp_path / "raw", weights="raw")
    assert raw["weights"] == "raw"
    trained = torch.load(run / "checkpoints" / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(v, trained[k]) for k, v in gn.load_model(tmp_path / "raw").state_dict().items())


def test_export_refuses_what_it_cannot_do_before_writing(run, tmp_path):
    gn.export_model(run, tmp_path / "out")
    with pytest.raises(OutputError, match="already holds model.safetensors, recipe.yaml, README.md"):
        gn.export_model(run, tmp_path / "out")
    gn.export_model(run, tmp_path / "out", force=True)
    with pytest.raises(GibbsnetError, match="no moving averages to export"):
        gn.export_model(run, tmp_path / "other", weights="ema")
    assert not (tmp_path / "other").exists()
    with pytest.raises(GibbsnetError, match="already an exported model"):
        gn.export_model(tmp_path / "out", tmp_path / "again")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(GibbsnetError, match="damaged or not a safetensors file"):
        gn.load_model(tmp_path / "bad")
