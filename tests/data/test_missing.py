"""Mask processes, items that carry masks, and the wrappers that hide or corrupt training data."""

from __future__ import annotations

import math

import pytest
import torch
from torch.utils.data import TensorDataset

import gibbsnet_plugin as gn
from gibbsnet_plugin.data.missing import (
    Corrupted,
    Masked,
    check_mask_batch,
    check_observed,
    check_process,
    draw_mask,
    split_item,
)
from gibbsnet_plugin.errors import MaskError

SHAPE = (1, 8, 8)


def test_a_window_process_observes_one_k_by_k_square_in_all_channels():
    for seed in range(20):
        mask = draw_mask("window-4", (3, 8, 8), seed)
        assert mask.sum() == 3 * 16
        rows, cols = mask[0].nonzero(as_tuple=True)
        assert rows.max() - rows.min() == 3 and cols.max() - cols.min() == 3
        assert torch.equal(mask[0], mask[2])
    places = {tuple(draw_mask("window-4", SHAPE, s)[0].nonzero()[0].tolist()) for s in range(50)}
    assert len(places) > 10


def test_random_masks_differ_between_items_and_splits_but_not_between_epochs():
    data = TensorDataset(torch.zeros(30, *SHAPE), torch.arange(30))
    train = Masked(data, "random-80", SHAPE, seed=0, train=True)
    test = Masked(data, "random-80", SHAPE, seed=0, train=False)
    other_seed = Masked(data, "random-80", SHAPE, seed=1, train=True)
    assert torch.equal(train[5][2], train[5][2])
    assert not torch.equal(train[5][2], train[6][2])
    assert not torch.equal(train[5][2], test[5][2])
    assert not torch.equal(train[5][2], other_seed[5][2])
    assert all(int((train[i][2] == 0).sum()) == round(0.8 * 64) for i in range(30))


def test_masked_items_hide_the_values_in_training_and_keep_them_for_scoring():
    x = torch.rand(4, *SHAPE) + 1.0  # no zeros of its own
    hidden = Masked(TensorDataset(x), "random-50", SHAPE, seed=0, train=True)
    scored = Masked(TensorDataset(x), "random-50", SHAPE, seed=0, train=True, hide=False)
    item, mask = hidden[2]
    assert bool((item[mask == 0] == 0).all()) and torch.equal(item[mask == 1], x[2][mask == 1])
    assert torch.equal(scored[2][0], x[2]) and torch.equal(scored[2][1], mask)


def test_items_with_masks_of_their_own_keep_their_holes_and_their_unknown_truth():
    x = torch.rand(6, 10) + 1.0
    own = torch.ones(6, 10)
    own[:, :5] = 0  # real holes: the first five entries of every row, holding junk
    data = TensorDataset(torch.where(own != 0, x, torch.full_like(x, -7.0)), own)
    scored = Masked(data, "random-40", (10,), seed=0, train=False, hide=False)
    hidden = Masked(data, "random-40", (10,), seed=0, train=False)
    for i in range(6):
        process = scored.mask(i)
        assert int((process == 0).sum()) == 4
        item, mask = scored[i]
        assert torch.equal(mask, process * own[i])  # hidden: by the process or already missing
        assert bool(item[:5].isnan().all()) and torch.equal(item[5:], x[i, 5:])
        item, mask = hidden[i]
        assert torch.equal(mask, process * own[i])
        assert torch.equal(item, torch.where(mask != 0, x[i], torch.zeros_like(x[i])))


def test_only_random_processes_fit_vectors():
    check_process("random-20", (16,))
    for name in ("window-2", "left-half", "center"):
        with pytest.raises(MaskError, match=r"^mask (process )?'[a-z-2]+' needs image data .* "
                                            r"table rows take only random-PCT \(e\.g\. random-20\)$"):
            check_process(name, (16,))


def test_labels_stay_in_the_middle_of_masked_items():
    data = gn.datasets.build("digits", "", train=True)
    x, y, mask = Masked(data, "center", SHAPE, seed=0, train=True)[7]
    assert y == data[7][1] and mask.shape == SHAPE


def hidden_pixels(name: str, shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """The pixels (H, W) that one draw of the accepted process ``name`` hides, the same in every
    channel."""
    check_process(name, shape)
    mask = draw_mask(name, shape, seed)
    assert mask.shape == shape and bool(((mask == 0) | (mask == 1)).all())
    assert all(torch.equal(mask[0], channel) for channel in mask)
    return mask[0] == 0


def region(shape: tuple[int, ...], rows: slice, cols: slice) -> torch.Tensor:
    hidden = torch.zeros(shape[1:], dtype=torch.bool)
    hidden[rows, cols] = True
    return hidden


@pytest.mark.parametrize("name, rows, cols", [
    ("left-half", slice(None), slice(0, 4)), ("right-half", slice(None), slice(4, 8)),
    ("top-half", slice(0, 4), slice(None)), ("bottom-half", slice(4, 8), slice(None)),
    ("center", slice(2, 6), slice(2, 6)),
])
def test_a_region_process_hides_its_region_of_every_item(name, rows, cols):
    for seed in range(3):
        assert torch.equal(hidden_pixels(name, (2, 8, 8), seed), region((2, 8, 8), rows, cols))


@pytest.mark.parametrize("name, rows, cols", [
    ("left-half", slice(None), slice(0, 3)), ("right-half", slice(None), slice(4, 7)),
    ("top-half", slice(0, 2), slice(None)), ("bottom-half", slice(3, 5), slice(None)),
    ("center", slice(1, 3), slice(2, 5)),
])
def test_a_region_process_leaves_the_larger_half_observed_when_the_size_is_odd(name, rows, cols):
    assert torch.equal(hidden_pixels(name, (1, 5, 7), 0), region((1, 5, 7), rows, cols))


@pytest.mark.parametrize("name, share", [("random-50", 0.5), ("random-12.5", 0.125)])
def test_a_random_process_hides_its_share_of_the_pixels_anywhere(name, share):
    draws = torch.stack([hidden_pixels(name, SHAPE, seed) for seed in range(400)])
    assert all(int(hidden.sum()) == round(share * 64) for hidden in draws)  # every item exactly
    assert len({tuple(hidden.flatten().tolist()) for hidden in draws}) == len(draws)
    # every pixel is hidden in about that share of the items (within 5 standard errors)
    error = math.sqrt(share * (1 - share) / len(draws))
    assert float((draws.float().mean(0) - share).abs().max()) < 5 * error


def test_a_window_process_hides_all_but_one_window_of_that_size():
    for seed in range(10):
        observed = ~hidden_pixels("window-3", SHAPE, seed)
        rows, cols = observed.nonzero(as_tuple=True)
        assert int(observed.sum()) == 9 and int(rows.max() - rows.min()) == int(cols.max() - cols.min()) == 2


@pytest.mark.parametrize("name, words", [
    ("random", "unknown mask process"), ("window-x", "unknown mask process"),
    ("window-8", "smaller than it"), ("window-0", "at least 1 pixel"), ("random-100", "not all"),
])
def test_bad_process_names_are_refused(name, words):
    with pytest.raises(MaskError, match=words):
        check_process(name, SHAPE)


def test_items_and_batches_split_into_x_label_and_mask():
    x, m = torch.zeros(2, *SHAPE), torch.ones(2, *SHAPE)
    y = torch.tensor([1, 2])
    assert split_item(x)[1:] == (None, None)
    assert split_item((x, y))[1] is y and split_item((x, y))[2] is None
    assert split_item((x, m))[1] is None and split_item((x, m))[2] is m
    assert split_item((x, y, m))[1] is y and split_item((x, y, m))[2] is m
    as_bytes = m.to(torch.uint8)
    assert split_item((x, as_bytes))[2] is as_bytes and split_item((x[0], as_bytes[0]))[2] is not None
    assert split_item((x[0], 3))[1] == 3


def test_malformed_masks_are_refused_with_the_source_and_what_is_wrong():
    x = torch.zeros(2, *SHAPE)
    with pytest.raises(MaskError, match=r"my data: a mask of shape \(2, 1, 4, 4\) came with data "
                                        r"of shape \(2, 1, 8, 8\)"):
        check_mask_batch(x, torch.ones(2, 1, 4, 4), "my data")
    with pytest.raises(MaskError, match="must be 0 .missing. or 1 .observed., found 0.5"):
        check_mask_batch(x, torch.full_like(x, 0.5), "my data")
    check_mask_batch(x, torch.ones_like(x, dtype=torch.bool), "my data")


def test_a_data_set_whose_items_are_all_fully_hidden_is_refused():
    x = torch.rand(10, *SHAPE)
    with pytest.raises(MaskError, match="every item's mask hides all of it"):
        check_observed(TensorDataset(x, torch.zeros_like(x)), "data set 'x'")
    partly = torch.zeros_like(x)
    partly[9, 0, 0, 0] = 1
    check_observed(TensorDataset(x, partly), "data set 'x'")
    check_observed(TensorDataset(x), "data set 'x'")


def test_corrupted_items_are_drawn_once_per_item_and_keep_their_labels():
    data = gn.datasets.build("digits", "", train=True)
    f = gn.corruptions.build("noise", SHAPE, sigma=0.5)
    corrupted = Corrupted(data, f, seed=0)
    y0, label = corrupted[0]
    assert label == data[0][1]
    assert torch.equal(corrupted[0][0], y0) and not torch.equal(corrupted[1][0] - data[1][0], y0 - data[0][0])
    assert (y0 - data[0][0]).std().item() == pytest.approx(0.5, rel=0.3)
    state = torch.get_rng_state()
    corrupted[3]
    assert torch.equal(torch.get_rng_state(), state)


def test_corrupting_an_item_leaves_the_gpu_generators_alone(monkeypatch):
    def reseeded(seed: int) -> None:
        raise AssertionError("a data item reseeded the GPU generators")

    monkeypatch.setattr(torch.cuda, "manual_seed_all", reseeded)
    data = gn.datasets.build("digits", "", train=True)
    Corrupted(data, gn.corruptions.build("noise", SHAPE), seed=0)[0]
