"""The bundled digits data set (gibbsnet_plugin/data/digits.py)."""

from __future__ import annotations

import torch

import gibbsnet_plugin.data as data

# ---------------------------------------------------------------------------------------- digits


def test_digits_shapes_range_labels_and_split() -> None:
    train = data.build("digits", "unused", train=True)
    test = data.build("digits", "unused", train=False)
    assert len(train) + len(test) == 1797 and len(test) == round(1797 * 0.2)
    x, y = train[:]
    assert x.shape == (len(train), 1, 8, 8) and x.dtype == torch.float32
    assert x.min() == -1.0 and x.max() == 1.0
    assert set(y.tolist()) == set(range(10))

    def rows(dataset) -> set[bytes]:
        return {row.numpy().tobytes() for row in dataset[:][0]}

    assert rows(train).isdisjoint(rows(test))  # digits holds no duplicate images
    again = data.build("digits", "unused", train=False)
    assert torch.equal(test[:][0], again[:][0]) and torch.equal(test[:][1], again[:][1])


def test_digits_are_scikit_learns_load_digits_bit_for_bit() -> None:
    from sklearn.datasets import load_digits

    from gibbsnet_plugin.data.digits import read_digits

    images, labels = read_digits()
    bunch = load_digits()
    assert (images == bunch.data).all() and (labels == bunch.target).all()
