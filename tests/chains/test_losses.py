"""The losses every chain model owns (gibbsnet_plugin/chains/losses.py), for every kind."""

from __future__ import annotations

import math

import pytest
import torch

from conftest import FixedRow, tiny_recipe
from gibbsnet_plugin.architectures.wrappers import CategoricalDraws
from gibbsnet_plugin.chains.losses import crps_of_pair
from gibbsnet_plugin.factory import build_model

SHAPE = (1, 8, 8)
KINDS = {"gibbsnet": {}, "deep": {"z_dim": [8, 4]}, "hali": {"z_dim": [8, 4], "kind": "hali"}}


def twin_models(kind: str, **settings: object):
    """The model of ``kind`` without and with ``settings``, with the same weights."""
    models = []
    for chosen in ({}, settings):
        torch.manual_seed(0)
        models.append(build_model(tiny_recipe(model={**KINDS[kind], **chosen}), SHAPE))
    assert all(torch.equal(a, b) for a, b in zip(models[0].state_dict().values(),
                                                 models[1].state_dict().values(), strict=True))
    return models


@pytest.mark.parametrize("kind", KINDS)
def test_x_consistency_adds_its_weight_times_the_reconstruction_error_to_the_generator_loss(kind):
    plain, weighted = twin_models(kind, x_consistency=3.0)
    torch.manual_seed(1)
    x = torch.rand(16, *SHAPE) * 2 - 1
    mask = (torch.rand(16, *SHAPE) > 0.3).float()
    with torch.no_grad():
        real, fake = plain.clamped(x), plain.unclamped(16)
    torch.manual_seed(2)
    loss = weighted.generator_loss(real, fake, x=x, mask=mask, fill_steps=2).loss
    torch.manual_seed(2)  # the adversarial part draws nothing: the error sees the same noise
    base = plain.generator_loss(real, fake, x=x, mask=mask, fill_steps=2).loss
    error = plain.reconstruction_error(x, mask, steps=2)
    assert error > 0
    assert torch.allclose(loss, base + 3.0 * error, rtol=1e-6)
    loss.backward()  # the term trains the x update: the decoder that gives x gets its gradient
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in weighted.decoder.parameters())


def test_the_generator_loss_refuses_to_drop_x_consistency_without_the_batch():
    _, weighted = twin_models("gibbsnet", x_consistency=1.0)
    real, fake = weighted.clamped(torch.zeros(4, *SHAPE)), weighted.unclamped(4)
    with pytest.raises(ValueError, match="x_consistency needs the batch x"):
        weighted.generator_loss(real, fake)


def test_the_two_draw_crps_is_lowest_for_draws_spread_as_the_truth():
    """Its expectation is the CRPS: for a N(0, 1) truth, draws of N(0, s^2) score best at s = 1."""
    torch.manual_seed(0)
    y = torch.randn(200_000)
    score = {s: crps_of_pair(s * torch.randn_like(y), s * torch.randn_like(y), y).mean().item()
             for s in (0.3, 0.7, 1.0, 1.4, 2.0)}
    assert min(score, key=score.get) == 1.0
    # CRPS of N(0, 1) against its own draws: 1/sqrt(pi)
    assert score[1.0] == pytest.approx(1 / math.sqrt(math.pi), abs=0.01)
    # two equal draws score their absolute error: a point forecast's CRPS
    a = torch.tensor([0.5, -1.0])
    assert torch.equal(crps_of_pair(a, a, torch.zeros(2)), a.abs())


def test_a_crps_reconstruction_scores_two_independent_draws_of_the_x_update():
    _, model = twin_models("gibbsnet", x_consistency=1.0, reconstruction="crps")
    x = torch.rand(8, *SHAPE) * 2 - 1
    with torch.no_grad():
        error = model.reconstruction_error(x, steps=1)
    assert error > 0
    # every entry observed, none scored -> a mask of zeros scores nothing
    assert model.reconstruction_error(x, torch.zeros_like(x), steps=1) == 0


@pytest.mark.parametrize("reconstruction", ["squared", "crps"])
def test_a_log_scored_category_is_reconstructed_by_its_cross_entropy(reconstruction):
    """x = (a number, one text column of 3 categories); the decoder's logits favour category 0."""
    recipe = tiny_recipe(model={"x_consistency": 1.0, "reconstruction": reconstruction})
    torch.manual_seed(0)
    model = build_model(recipe, (4,))
    decoder = CategoricalDraws(FixedRow([0.25, 2.0, 0.0, 0.0]), [(1, 3)], score="log")
    model = model.with_networks(model.encoder, decoder)
    x = torch.tensor([[0.75, 1.0, -1.0, -1.0], [0.75, -1.0, 1.0, -1.0]])  # categories 0 and 1
    error = model.reconstruction_error(x, steps=1)
    log_z = math.log(math.exp(2.0) + 2)
    number = 0.5 if reconstruction == "crps" else 0.25  # |0.25 - 0.75|, twice; its square
    categories = ((log_z - 2.0) + log_z) / 2  # the rows' cross-entropies, spread over 3 entries
    assert error.item() == pytest.approx((number + categories) / 4, rel=1e-5)
    error.backward()  # descent raises the logit of the categories seen, not only of wrong draws
    grad = decoder.decoder.row.grad
    assert grad[2] < 0 < grad[3]


def test_a_bounded_reconstruction_scores_draws_clipped_to_the_data_range():
    """x = (0.5, 1.0, a text column of 2 categories); the decoder draws 0.5, 1.5 and the other
    category's code, whose entries lie exactly on the bounds."""
    x = torch.tensor([[0.5, 1.0, -1.0, 1.0]])
    errors, grads = {}, {}
    for bounded in (False, True):
        torch.manual_seed(0)
        model = build_model(tiny_recipe(model={"x_consistency": 1.0, "reconstruction": "crps",
                                               "bounded": bounded}), (4,))
        decoder = FixedRow([0.5, 1.5, 1.0, -1.0])
        model = model.with_networks(model.encoder, decoder)
        errors[bounded] = model.reconstruction_error(x, steps=1)
        errors[bounded].backward()
        grads[bounded] = decoder.row.grad
    assert errors[False].item() == pytest.approx((0.5 + 2 + 2) / 4)
    assert errors[True].item() == pytest.approx((2 + 2) / 4)  # 1.5 is drawn as 1.0, the data's top
    assert grads[False][1] > 0 and grads[True][1] == 0
    assert torch.equal(grads[True][2:], grads[False][2:]) and grads[True][2] > 0  # codes still learn


@pytest.mark.parametrize("hide", [0.2, 0.5, 0.8])
def test_the_reconstruction_hides_its_share_of_the_observed_entries_from_the_chain(hide, monkeypatch):
    """What the chain is shown: observed entries, less a ``hide`` share of them; never a hole."""
    torch.manual_seed(0)
    model = build_model(tiny_recipe(model={"x_consistency": 1.0, "hide": hide}), SHAPE)
    x = torch.rand(256, *SHAPE) * 2 - 1
    mask = (torch.rand(256, *SHAPE) > 0.3).float()
    seen = []
    inpaint = model.inpaint
    monkeypatch.setattr(model, "inpaint", lambda known, shown, steps: seen.append(shown) or
                        inpaint(known, shown, steps))
    model.reconstruction_error(x, mask, steps=1)
    shown = seen[0]
    assert not shown[mask == 0].any()
    assert shown[mask == 1].float().mean().item() == pytest.approx(1 - hide, abs=0.02)


@pytest.mark.parametrize("kind", KINDS)
def test_stationarity_shows_d_pairs_of_one_chain_started_at_data_as_unclamped(kind):
    """Items 2i and 2i + 1 of the pairs are the clamped state of data item i and where its chain
    went; they join the unclamped side, so D's packs of 2 judge them against independent data."""
    from gibbsnet_plugin.incomplete import training_pairs

    torch.manual_seed(0)
    model = build_model(tiny_recipe(model={**KINDS[kind], "pack": 2, "stationarity": 3}), SHAPE)
    x = torch.rand(8, *SHAPE) * 2 - 1
    real = model.clamped(x)
    pairs = model.chain_pairs(real)
    assert [tuple(t.shape) for t in pairs] == [tuple(t.shape) for t in real]
    for layer, start in zip(pairs, real, strict=True):
        assert torch.equal(layer[0::2], start[:4])  # s_0 of chain i is data item i's state
    assert not torch.allclose(pairs[0][1::2], real[0][:4])  # s_m moved
    pairs[0][1::2].sum().backward()  # the chain's last step trains the x update
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    real, fake = training_pairs(model, x)
    assert fake[0].shape[0] == 8 + 8  # 8 unclamped chains and 4 pairs
    assert model.judge(fake).shape == (8,)


def test_stationarity_refuses_data_with_masks_in_one_line():
    from gibbsnet_plugin.incomplete import training_pairs

    model = build_model(tiny_recipe(model={"pack": 2, "stationarity": 2}), SHAPE)
    x = torch.zeros(4, *SHAPE)
    with pytest.raises(ValueError, match="needs complete, uncorrupted data"):
        training_pairs(model, x, torch.ones_like(x))


@pytest.mark.parametrize("kind", KINDS)
def test_walkback_adds_its_weight_times_the_walkback_error_to_the_generator_loss(kind):
    plain, weighted = twin_models(kind, walkback=2.0, walkback_steps=3)
    torch.manual_seed(1)
    x = torch.rand(16, *SHAPE) * 2 - 1
    with torch.no_grad():
        real, fake = plain.clamped(x), plain.unclamped(16)
    torch.manual_seed(2)
    loss = weighted.generator_loss(real, fake, x=x).loss
    torch.manual_seed(2)  # the adversarial part draws nothing: the walk sees the same noise
    error = weighted.walkback_error(x)
    base = plain.generator_loss(real, fake, x=x).loss
    assert error > 0
    assert torch.allclose(loss, base + 2.0 * error, rtol=1e-6)
    loss.backward()  # the x update from the walk's end learns; the walk itself carries no graph
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in weighted.decoder.parameters())


@pytest.mark.parametrize("reconstruction", ["squared", "crps"])
def test_walkback_scores_the_x_update_from_where_the_chain_walked_against_the_data(reconstruction):
    torch.manual_seed(0)
    model = build_model(tiny_recipe(model={"walkback": 1.0, "reconstruction": reconstruction}), SHAPE)
    x = torch.rand(8, *SHAPE) * 2 - 1
    torch.manual_seed(3)
    error = model.walkback_error(x, steps=2)
    torch.manual_seed(3)
    with torch.no_grad():
        state = model.step(model.step(tuple(model.clamped(x))))
        if reconstruction == "crps":
            a, b = model.x_update(torch.cat([state[0]] * 2)).chunk(2)
            expected = ((a - x).abs() + (b - x).abs() - (a - b).abs()).mean() / 2
        else:
            expected = (model.x_update(state[0]) - x).pow(2).mean()
    assert error.item() == pytest.approx(expected.item(), rel=1e-5)


def test_walkback_walks_between_1_and_walkback_steps_steps(monkeypatch):
    model = build_model(tiny_recipe(model={"walkback": 1.0, "walkback_steps": 3}), SHAPE)
    step, walked = model.step, []
    monkeypatch.setattr(model, "step", lambda state, **kw: walked.append(torch.is_grad_enabled())
                        or step(state, **kw))
    lengths = []
    for _ in range(60):
        walked.clear()
        model.walkback_error(torch.zeros(4, *SHAPE))
        lengths.append(len(walked))
    assert set(lengths) == {1, 2, 3}
    assert not any(walked)  # the walk carries no graph: only the last x update learns


@pytest.mark.parametrize("reconstruction", ["squared", "crps"])
def test_walkback_on_incomplete_data_fills_the_holes_walks_and_scores_observed_entries_only(reconstruction):
    torch.manual_seed(0)
    model = build_model(tiny_recipe(model={"walkback": 1.0, "reconstruction": reconstruction}), SHAPE)
    x = torch.rand(8, *SHAPE) * 2 - 1
    mask = (torch.rand(8, *SHAPE) > 0.4).float()
    holes = torch.where(mask == 1, x, torch.full_like(x, float("nan")))  # hidden entries never read
    torch.manual_seed(3)
    error = model.walkback_error(holes, mask, steps=2, fill_steps=3)
    torch.manual_seed(3)
    with torch.no_grad():
        known = torch.where(mask == 1, x, torch.zeros_like(x))
        filled = model.inpaint(known, mask, 3)
        state = model.step(model.step(tuple(model.clamped(filled))))
        if reconstruction == "crps":
            a, b = model.x_update(torch.cat([state[0]] * 2)).chunk(2)
            score = ((a - x).abs() + (b - x).abs() - (a - b).abs()) / 2
        else:
            score = (model.x_update(state[0]) - x).pow(2)
        expected = score[mask == 1].mean()
    assert torch.isfinite(error)
    assert error.item() == pytest.approx(expected.item(), rel=1e-5)
    real = model.clamped(model.inpaint(known, mask, 3))  # the loss the trainer asks for passes the mask on
    fake = model.unclamped(8)
    torch.manual_seed(4)
    loss = model.generator_loss(real, fake, x=holes, mask=mask, fill_steps=3).loss
    torch.manual_seed(4)
    with_walk = model.walkback_error(holes, mask, fill_steps=3)
    model.walkback = 0.0
    assert torch.isfinite(loss)
    assert loss.item() == pytest.approx(model.generator_loss(real, fake).loss.item() + with_walk.item(),
                                        rel=1e-5)


@pytest.mark.parametrize("reconstruction", ["squared", "crps"])
def test_walkback_on_measurements_walks_from_y_and_scores_f_of_the_x_update_against_y(reconstruction):
    torch.manual_seed(0)
    model = build_model(tiny_recipe(model={"walkback": 1.0, "reconstruction": reconstruction}), SHAPE)
    model.eval()  # batch statistics aside: the walk below is recomputed by hand

    def f(t):
        return 0.5 * t.flip(-1)

    model.corruption = f
    y = f(torch.rand(8, *SHAPE) * 2 - 1)
    torch.manual_seed(3)
    error = model.walkback_error(y, steps=2)
    torch.manual_seed(3)
    with torch.no_grad():
        model.clamped(y)
        x1 = model.decoder(model.encoder(y))  # the first step reads y as the clamped chain does
        x2 = model.decoder(model.encoder(f(x1)))  # later steps read f(x)
        draws = 2 if reconstruction == "crps" else 1
        drawn = f(model.decoder(model.encoder(f(torch.cat([x2] * draws)))))  # from f(x_2)
        if reconstruction == "crps":
            a, b = drawn.chunk(2)
            expected = ((a - y).abs() + (b - y).abs() - (a - b).abs()).mean() / 2
        else:
            expected = (drawn - y).pow(2).mean()
    assert error.item() == pytest.approx(expected.item(), rel=1e-5)
    real, fake = model.clamped(y), model.unclamped(8)
    assert torch.isfinite(model.generator_loss(real, fake, x=y).loss)  # no refusal


def test_walkback_on_measurements_reads_y_as_it_is_in_its_first_step_only(monkeypatch):
    model = build_model(tiny_recipe(model={"walkback": 1.0, "walkback_steps": 3}), SHAPE)
    model.eval()
    model.corruption = lambda t: 0.5 * t.flip(-1)
    y = torch.rand(4, *SHAPE) * 2 - 1
    with torch.no_grad():
        start = tuple(model.clamped(y))
        z = {}
        for name, measured, read in (("measured", True, y), ("f", False, model.observe(y))):
            torch.manual_seed(5)  # the same encoder noise for the step and for enc(read)
            z[name] = model.step(start, measured=measured)[1]
            torch.manual_seed(5)
            assert torch.allclose(z[name], model.encoder(read)), name
        assert not torch.allclose(z["measured"], z["f"])
    step, measured = model.step, []
    monkeypatch.setattr(model, "step", lambda state, **kw: measured.append(
        kw.get("measured", False)) or step(state, **kw))
    model.walkback_error(y, steps=3)
    assert measured == [True, False, False]


def test_walkback_needs_the_batch_in_one_line():
    model = build_model(tiny_recipe(model={"walkback": 1.0}), SHAPE)
    x = torch.zeros(4, *SHAPE)
    real, fake = model.clamped(x), model.unclamped(4)
    model.generator_loss(real, fake, x=x, mask=torch.ones_like(x))  # holes are fine
    with pytest.raises(ValueError, match="walkback needs the batch x"):
        model.generator_loss(real, fake)


class CopyShown(torch.nn.Module):
    """A decoder body that gives the shown cells it is handed back exactly and 0 elsewhere."""

    def __init__(self, n_x: int) -> None:
        super().__init__()
        self.n_x = n_x

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h[:, -2 * self.n_x:-self.n_x]


@pytest.mark.parametrize("reconstruction", ["squared", "crps"])
def test_a_decoder_given_the_shown_cells_is_scored_on_the_hidden_ones_only(reconstruction):
    """Every hidden entry of x = 0.5 is reconstructed as 0 (error 0.25 squared, 0.5 by the
    CRPS) and every shown one exactly: the mean over the hidden entries, whichever they are."""
    torch.manual_seed(0)
    model = build_model(tiny_recipe(model={
        "z_dim": 2, "x_consistency": 1.0, "reconstruction": reconstruction,
        "options": {"hidden": [8], "norm": "layer", "output": "linear", "decoder_noise": 0,
                    "shown_cells": True}}), (6,))
    model.decoder.body[0].body = CopyShown(6)
    x = torch.full((32, 6), 0.5)
    error = model.reconstruction_error(x, steps=0)
    assert error.item() == pytest.approx(0.25 if reconstruction == "squared" else 0.5)


def _fill_a_column_that_is_the_mean_of_two(shown: bool, steps: int = 1000) -> float:
    """Train only the masked reconstruction on rows (a, b, (a + b) / 2); the RMSE of the third
    column filled by the partially clamped chain from the first two."""
    torch.manual_seed(0)
    model = build_model(tiny_recipe(model={
        "z_dim": 2, "x_consistency": 1.0, "hide": 0.3,
        "options": {"hidden": [32], "norm": "layer", "output": "linear", "decoder_noise": 0,
                    "shown_cells": shown}}), (3,))
    optimizer = torch.optim.Adam([*model.encoder.parameters(), *model.decoder.parameters()], lr=3e-3)

    def rows(n: int) -> torch.Tensor:
        ab = torch.rand(n, 2) * 2 - 1
        return torch.cat([ab, ab.mean(1, keepdim=True)], 1)

    for _ in range(steps):
        loss = model.reconstruction_error(rows(64), steps=1)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    x = rows(500)
    filled = model.eval().inpaint(x, torch.tensor([1.0, 1.0, 0.0]), steps=3)
    return (filled[:, 2] - x[:, 2]).pow(2).mean().sqrt().item()


def test_a_decoder_given_the_shown_cells_learns_a_hidden_column_from_the_shown_ones():
    """The masked reconstruction hands the cells it leaves shown to a ``shown_cells`` decoder,
    and the partially clamped chain hands it the observed ones: a column that is a function of
    others is filled far more closely than through z alone."""
    assert _fill_a_column_that_is_the_mean_of_two(True) < _fill_a_column_that_is_the_mean_of_two(False) / 2
