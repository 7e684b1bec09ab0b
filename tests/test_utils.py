"""Devices, seeding and atomic writes (gibbsnet_plugin/utils.py)."""

from __future__ import annotations

import pytest
import torch

from gibbsnet_plugin.errors import DeviceError
from gibbsnet_plugin.utils import atomic_output, resolve_device, seeded, write_text_atomic


def test_devices_are_resolved_and_checked():
    assert resolve_device("cpu") == torch.device("cpu")
    expected = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("auto") == resolve_device(None) == expected
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    with pytest.raises(DeviceError, match=r"^device 'gpu0': expected auto, cpu, cuda, cuda:N or mps$"):
        resolve_device("gpu0")
    with pytest.raises(DeviceError, match="^train.device 'meta': expected"):
        resolve_device("meta", "train.device")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine without CUDA")
def test_cuda_is_refused_where_there_is_none():
    with pytest.raises(DeviceError, match="^train.device 'cuda:1': CUDA is not available here"):
        resolve_device("cuda:1", "train.device")


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="checks a machine without MPS")
def test_mps_is_refused_where_there_is_none():
    # The recipe schema has always accepted mps; it used to fail later inside torch.
    with pytest.raises(DeviceError, match="^train.device 'mps': Apple's MPS is not available here"):
        resolve_device("mps", "train.device")


def test_seeded_draws_the_same_numbers_and_restores_the_generator():
    torch.manual_seed(5)
    expected_after = torch.rand(3)
    torch.manual_seed(5)
    with seeded(11):
        first = torch.rand(4)
    assert torch.equal(torch.rand(3), expected_after)
    with seeded(11):
        assert torch.equal(torch.rand(4), first)
    torch.manual_seed(5)
    with seeded(None):
        unseeded = torch.rand(3)
    assert torch.equal(unseeded, expected_after)


def test_a_failed_write_leaves_no_file_and_keeps_the_old_one(tmp_path):
    target = tmp_path / "out.png"
    with pytest.raises(RuntimeError), atomic_output(tmp_path / "new.png") as tmp:
        tmp.write_bytes(b"partial")
        raise RuntimeError("disk full")
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_output(target) as tmp:
        tmp.write_bytes(b"partial")
        raise RuntimeError("disk full")
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"] and target.read_bytes() == b"old"


def test_write_text_atomic_creates_parents_and_replaces(tmp_path):
    path = tmp_path / "a" / "b.txt"
    write_text_atomic(path, "one")
    write_text_atomic(path, "two")
    assert path.read_text() == "two" and [p.name for p in path.parent.iterdir()] == ["b.txt"]


def test_unwritable_says_why_before_anything_is_written(tmp_path):
    from gibbsnet_plugin.utils import NAME_LIMIT, unwritable

    (tmp_path / "afile").write_text("x")
    assert unwritable(tmp_path / "new" / "deeper" / "x.png") is None
    assert unwritable(tmp_path / "afile") is None  # an existing file may be replaced
    assert unwritable(tmp_path / "afile" / "x.png") == f"{tmp_path / 'afile'} is a file, not a directory"
    assert unwritable("/dev/null/x.png") == "/dev/null is a file, not a directory"
    assert "longer than 200 bytes" in unwritable(tmp_path / ("a" * (NAME_LIMIT + 1) + ".png"))
    assert not list((tmp_path).glob("new"))
