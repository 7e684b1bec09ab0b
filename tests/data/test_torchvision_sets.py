"""MNIST, SVHN and CIFAR-10 (gibbsnet_plugin/data/torchvision_sets.py), on small files written
here in the real on-disk formats (no download)."""

from __future__ import annotations

from pathlib import Path
from urllib.error import URLError

import pytest
import torch
from fake_data import write_cifar, write_mnist, write_svhn

import gibbsnet_plugin.data as data
from gibbsnet_plugin.errors import DatasetNotFoundError, DownloadFailed


def _check_items(dataset, shape: tuple[int, ...], labelled: bool = True) -> None:
    for i in range(len(dataset)):
        item = dataset[i]
        x = item[0] if labelled else item
        assert isinstance(x, torch.Tensor) and x.dtype == torch.float32
        assert tuple(x.shape) == shape
        assert -1.0 <= x.min() and x.max() <= 1.0
        if labelled:
            assert isinstance(item[1], int) and 0 <= item[1] <= 9


def _labels(dataset) -> list[int]:
    return [dataset[i][1] for i in range(len(dataset))]


# ----------------------------------------------------------------------------------------- mnist


def test_mnist_reads_idx_files(tmp_path: Path) -> None:
    write_mnist(tmp_path)
    train = data.build("mnist", str(tmp_path), train=True)
    test = data.build("mnist", str(tmp_path), train=False)
    assert (len(train), len(test)) == (6, 4)
    _check_items(train, (1, 28, 28))
    x, _ = train[3]
    assert x[0, 0, 1] == 1.0 and x[0, 0, 0] == -1.0
    assert x[0, 27, 27] == pytest.approx(30 / 127.5 - 1.0)
    assert _labels(train) == [0, 1, 2, 3, 4, 5] and _labels(test) == [0, 1, 2, 3]


def test_mnist_expands_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    write_mnist(tmp_path / "data")
    assert len(data.build("mnist", "~/data", train=False)) == 4


def test_mnist_missing_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="download") as info:
        data.build("mnist", str(tmp_path), train=True)
    message = str(info.value)
    assert "MNIST" in message and str(tmp_path / "MNIST" / "raw") in message
    assert "train-images-idx3-ubyte" in message and "\n" not in message


def test_mnist_failed_download_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(*args, **kwargs) -> None:
        raise URLError("no network")

    monkeypatch.setattr("torchvision.datasets.mnist.download_and_extract_archive", offline)
    with pytest.raises(DownloadFailed, match="downloading MNIST") as info:
        data.build("mnist", str(tmp_path), train=True, download=True)
    assert "\n" not in str(info.value) and "no network" in str(info.value)
    assert info.value.exit_status == 1  # the network failed, not the user's input


# ------------------------------------------------------------------------------------------ svhn


def test_svhn_downloads_on_first_use_and_says_from_where(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(DatasetNotFoundError, match=r"download http://ufldl\.stanford\.edu/"
                       r"housenumbers/test_32x32\.mat \(64 MB\), or place test_32x32\.mat"):
        data.build("svhn", str(tmp_path), train=False)
    fetched = []

    def fake_download(url: str, root: str, filename: str, md5: str) -> None:
        fetched.append(url)
        write_svhn(Path(root), "test", [1, 2, 10])

    monkeypatch.setattr("torchvision.datasets.svhn.download_url", fake_download)
    test = data.build("svhn", str(tmp_path), train=False, download=True)
    assert fetched == ["http://ufldl.stanford.edu/housenumbers/test_32x32.mat"]
    assert _labels(test) == [1, 2, 0]
    data.build("svhn", str(tmp_path), train=False, download=True)
    assert len(fetched) == 1  # present now: not fetched again


def test_shipped_recipes_download_their_data_on_first_use() -> None:
    from gibbsnet_plugin.recipe import load_recipe

    recipes = Path(__file__).resolve().parents[2] / "recipes"
    for name in ("mnist", "svhn", "cifar10"):
        assert load_recipe(recipes / f"{name}.yaml").data.options["download"] is True


def test_svhn_reads_mat_files_and_maps_label_10_to_0(tmp_path: Path) -> None:
    write_svhn(tmp_path, "train", [10, 1, 2])
    write_svhn(tmp_path, "extra", [3, 4, 5, 6, 7])
    write_svhn(tmp_path, "test", [9, 10])
    train = data.build("svhn", str(tmp_path), train=True)
    _check_items(train, (3, 32, 32))
    assert _labels(train) == [0, 1, 2]
    x, _ = train[2]
    assert x[0, 0, 1] == 1.0 and x[1, 0, 1] == -1.0 and x[0, 0, 0] == -1.0
    assert x[2, 5, 7] == pytest.approx(40 / 127.5 - 1.0)
    assert _labels(data.build("svhn", str(tmp_path), train=False)) == [9, 0]
    assert len(data.build("svhn", str(tmp_path), train=True, train_split="extra")) == 5
    both = data.build("svhn", str(tmp_path), train=True, train_split="train+extra")
    assert _labels(both) == [0, 1, 2, 3, 4, 5, 6, 7]
    # train=False is always the test split.
    assert len(data.build("svhn", str(tmp_path), train=False, train_split="extra")) == 2


def test_present_files_are_not_downloaded_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # torchvision would re-fetch files whose md5 differs from the official ones.
    def no_network(*args, **kwargs) -> None:
        raise AssertionError("tried to download")

    monkeypatch.setattr("torchvision.datasets.svhn.download_url", no_network)
    monkeypatch.setattr("torchvision.datasets.cifar.download_and_extract_archive", no_network)
    write_svhn(tmp_path, "test", [1, 2])
    write_cifar(tmp_path)
    assert len(data.build("svhn", str(tmp_path), train=False, download=True)) == 2
    assert len(data.build("cifar10", str(tmp_path), train=False, download=True)) == 2


def test_svhn_missing_split_and_bad_option(tmp_path: Path) -> None:
    write_svhn(tmp_path, "train", [1])
    with pytest.raises(DatasetNotFoundError, match="download") as info:
        data.build("svhn", str(tmp_path), train=True, train_split="train+extra")
    assert str(info.value).endswith("or place extra_32x32.mat there")
    with pytest.raises(ValueError, match="train_split"):
        data.build("svhn", str(tmp_path), train=True, train_split="valid")


@pytest.mark.parametrize("kept", [0.0, 0.1, 0.5, 0.99])
def test_a_truncated_svhn_file_is_named_with_how_to_get_it_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kept: float
) -> None:
    def no_network(*args, **kwargs) -> None:
        raise AssertionError("tried to download")

    monkeypatch.setattr("torchvision.datasets.svhn.download_url", no_network)
    write_svhn(tmp_path, "test", [1, 2, 3])
    path = tmp_path / "test_32x32.mat"
    whole = path.read_bytes()
    path.write_bytes(whole[: int(kept * len(whole))])  # a download cut short
    for download in (False, True):
        with pytest.raises(DatasetNotFoundError) as info:
            data.build("svhn", str(tmp_path), train=False, download=download)
        message = str(info.value)
        assert message.startswith(f"{path}: damaged or incomplete SVHN data (") and "\n" not in message
        assert "delete the file so that SVHN is downloaded again" in message


def test_a_damaged_mnist_file_is_named_among_its_files(tmp_path: Path) -> None:
    write_mnist(tmp_path)
    images = tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:100])
    with pytest.raises(DatasetNotFoundError, match=r"MNIST/raw \(train-images-idx3-ubyte, .*"
                                                   r"t10k-images-idx3-ubyte, .*\): damaged or "
                                                   r"incomplete MNIST data .*delete these files"):
        data.build("mnist", str(tmp_path), train=False)


# --------------------------------------------------------------------------------------- cifar10


def test_cifar10_reads_pickled_batches(tmp_path: Path) -> None:
    write_cifar(tmp_path)
    train = data.build("cifar10", str(tmp_path), train=True)
    test = data.build("cifar10", str(tmp_path), train=False)
    assert (len(train), len(test)) == (10, 2)
    _check_items(train, (3, 32, 32))
    x, _ = test[0]
    assert x[0, 0, 1] == 1.0 and x[1, 0, 1] == -1.0 and x[0, 1, 0] == -1.0
    assert x[2, 31, 30] == pytest.approx(102 / 127.5 - 1.0)
    assert _labels(train) == list(range(10)) and _labels(test) == [0, 1]


def test_cifar10_missing_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="download") as info:
        data.build("cifar10", str(tmp_path), train=False)
    message = str(info.value)
    assert "CIFAR-10" in message and str(tmp_path / "cifar-10-batches-py") in message
    assert "test_batch" in message and "batches.meta" in message
