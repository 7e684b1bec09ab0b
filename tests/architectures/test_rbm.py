"""The ``rbm`` architecture: tied conditionals of one energy, the exact likelihood, DBM form."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

import gibbsnet_plugin as gn
from conftest import tiny_recipe
from gibbsnet_plugin.architectures.rbm import Boltzmann, bits, machine_of
from gibbsnet_plugin.engines.trainer import update
from gibbsnet_plugin.evaluation import evaluate_model
from gibbsnet_plugin.factory import build_model, build_optimizers
from gibbsnet_plugin.metrics.likelihood import mean_log_likelihood


def rbm_recipe(**model):
    return tiny_recipe(data={"dataset": "digits", "batch_size": 32, "options": {"binarize": True}},
                       model={"architecture": "rbm", "z_dim": 6, "options": {"hidden": 16},
                              "chain_steps": 2, **model})


def random_machine(n_x: int, n_h: int, seed: int = 0) -> Boltzmann:
    torch.manual_seed(seed)
    machine = Boltzmann([n_x, n_h])
    with torch.no_grad():
        for p in machine.parameters():
            p.normal_(0, 1)
    return machine


def test_exact_partition_function_matches_brute_force_on_a_4x3_rbm():
    machine = random_machine(4, 3)
    w, b, c = (t.detach().double() for t in (machine.weights[0], machine.biases[0], machine.biases[1]))
    terms = [float(v @ w @ h + b @ v + c @ h)
             for v in map(torch.tensor, itertools.product([0.0, 1.0], repeat=4))
             for h in map(torch.tensor, itertools.product([0.0, 1.0], repeat=3))
             for v, h in [(v.double(), h.double())]]
    brute = math.log(sum(math.exp(t) for t in terms))
    assert machine.log_partition().item() == pytest.approx(brute, abs=1e-4)
    every_v = torch.tensor(list(itertools.product([0.0, 1.0], repeat=4)))
    assert machine.log_likelihood(every_v).exp().sum().item() == pytest.approx(1.0, abs=1e-4)


def test_partition_function_is_the_same_in_chunks():
    machine = random_machine(6, 10, seed=1)
    assert machine.log_partition(chunk=7).item() == pytest.approx(machine.log_partition().item(), rel=1e-5)


def test_too_many_hidden_units_for_the_exact_sum_is_refused():
    with pytest.raises(ValueError, match="at most 24 hidden units"):
        Boltzmann([4, 25]).log_partition()


def test_conditionals_are_the_two_sides_of_one_tied_matrix():
    arch = gn.architectures.build("rbm", (1, 2, 2), 3)
    assert arch.encoder.machine is arch.decoder.machine
    machine = arch.encoder.machine
    x = torch.tensor([[[[1.0, -1.0], [1.0, 1.0]]]])
    z = torch.tensor([[1.0, -1.0, 1.0]])
    w = machine.weights[0]
    assert torch.allclose(machine.logits(1, x, None), bits(x) @ w + machine.biases[1])
    assert torch.allclose(machine.logits(0, None, z), bits(z) @ w.T + machine.biases[0])
    arch.encoder.eval()
    sample = arch.encoder(x)
    assert set(sample.unique().tolist()) <= {-1.0, 1.0} and sample.shape == (1, 3)


def test_tied_weights_stay_tied_through_training_and_checkpoints(tmp_path):
    recipe = rbm_recipe()
    model = build_model(recipe, (1, 8, 8))
    opt_d, opt_g = build_optimizers(model, recipe)
    machine = machine_of(model)
    before = machine.weights[0].detach().clone()
    x = gn.datasets.build("digits", "", train=True, binarize=True).tensors[0][:32]
    update(model, opt_d, opt_g, x)
    assert model.encoder.machine is model.decoder.machine
    assert not torch.equal(before, machine.weights[0])  # trained, through the discrete units
    run = gn.train(recipe, out=tmp_path / "run")
    loaded = gn.load_model(run)
    assert loaded.encoder.machine is loaded.decoder.machine
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=False)["model"]
    assert torch.equal(state["encoder.machine.weights.0"], state["decoder.machine.weights.0"])


def test_straight_through_and_relaxed_units_pass_gradient():
    for options in ({}, {"estimator": "relaxed", "temperature": [2.0, 0.5]}):
        arch = gn.architectures.build("rbm", (1, 2, 2), 3, **options)
        x = torch.tensor([[[[1.0, -1.0], [1.0, 1.0]]]]).repeat(8, 1, 1, 1)
        z = arch.encoder(x)
        z.sum().backward()
        assert arch.encoder.machine.weights[0].grad.abs().sum() > 0
        if not options:  # straight-through: the forward pass is exact spins
            assert set(z.detach().unique().tolist()) <= {-1.0, 1.0}


def test_relaxed_temperature_is_annealed_geometrically():
    machine = Boltzmann([4, 2], "relaxed", (1.0, 0.01))
    for progress, expected in ((0.0, 1.0), (0.5, 0.1), (1.0, 0.01)):
        (part,) = gn.architectures.base.annealed(torch.nn.Sequential(machine))
        part.anneal(progress)
        assert float(machine.temperature) == pytest.approx(expected)


def test_training_anneals_the_temperature_to_its_end(tmp_path):
    run = gn.train(rbm_recipe(options={"hidden": 16, "estimator": "relaxed",
                                       "temperature": [1.0, 0.1]}), out=tmp_path / "run")
    machine = machine_of(gn.load_model(run))
    # before the last of 12 iterations: 0.1 ** (11 / 12)
    assert float(machine.temperature) == pytest.approx(0.1 ** (11 / 12), rel=1e-5)


def test_bad_options_are_refused_with_what_to_do(tmp_path):
    with pytest.raises(ValueError, match="estimator must be one of straight-through, relaxed"):
        gn.architectures.build("rbm", (1, 2, 2), 3, estimator="gumbel")
    with pytest.raises(ValueError, match="set estimator: relaxed"):
        gn.architectures.build("rbm", (1, 2, 2), 3, temperature=[1.0, 0.1])
    bad = tmp_path / "bad.npz"
    np.savez(bad, W=np.zeros((4, 2)), b=np.zeros(4), c=np.zeros(2))
    with pytest.raises(ValueError, match=r"holds W of shape \(4, 2\); this model needs \(4, 3\)"):
        gn.architectures.build("rbm", (1, 2, 2), 3, init=str(bad))


def test_init_loads_a_pcd_rbm_in_scikit_learns_convention(tmp_path):
    from sklearn.neural_network import BernoulliRBM

    v = (gn.datasets.build("digits", "", train=True, binarize=True).tensors[0].flatten(1) + 1) / 2
    rbm = BernoulliRBM(n_components=5, n_iter=2, random_state=0).fit(v.numpy())
    path = tmp_path / "pcd.npz"
    np.savez(path, W=rbm.components_.T, b=rbm.intercept_visible_, c=rbm.intercept_hidden_)
    machine = gn.architectures.build("rbm", (1, 8, 8), 5, init=str(path)).encoder.machine
    # scikit-learn's free energy (score_samples is a pseudo-likelihood built from it)
    ours = machine.free_energy(v[:10]).detach().numpy()
    theirs = rbm._free_energy(v[:10].numpy())
    assert np.allclose(ours, theirs, atol=1e-4)


def test_a_list_z_dim_is_a_deep_boltzmann_machine_with_tied_pairs():
    model = build_model(rbm_recipe(z_dim=[6, 4]), (1, 8, 8))
    assert isinstance(model, gn.DeepGibbsNet)
    machine = machine_of(model)
    assert machine.sizes == [64, 6, 4]
    assert all(m is machine for m in model.modules() if isinstance(m, Boltzmann))
    x = torch.ones(2, 1, 8, 8)
    z2 = torch.ones(2, 4)
    expected = bits(x) @ machine.weights[0] + bits(z2) @ machine.weights[1].T + machine.biases[1]
    assert torch.allclose(machine.logits(1, x, z2), expected)
    assert model.sample(3, steps=4).shape == (3, 1, 8, 8)


def test_loglik_metric_is_the_exact_test_likelihood():
    recipe = rbm_recipe()
    model = build_model(recipe, (1, 8, 8))
    result = evaluate_model(model, recipe, ["loglik"])
    test = gn.datasets.build("digits", "", train=False, binarize=True)
    direct = machine_of(model).log_likelihood(bits(test.tensors[0])).mean().item()
    assert result["scores"]["loglik"] == pytest.approx(direct, rel=1e-5)
    # an untrained RBM with tiny weights is near 64 fair coins: 64 log 2 = 44.4 nats
    assert result["scores"]["loglik"] == pytest.approx(-64 * math.log(2), abs=2.0)


def test_loglik_refuses_grey_data_and_other_architectures():
    recipe = rbm_recipe()
    machine = machine_of(build_model(recipe, (1, 8, 8)))
    grey = gn.datasets.build("digits", "", train=False)
    with pytest.raises(gn.GibbsnetError, match="needs binary data .* binarize: true"):
        mean_log_likelihood(machine, grey)
    other = tiny_recipe()
    with pytest.raises(gn.GibbsnetError, match="loglik needs an RBM: architecture rbm"):
        evaluate_model(build_model(other, (1, 8, 8)), other, ["loglik"])
