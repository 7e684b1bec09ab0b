"""Batch norm with statistics per chain step (gibbsnet_plugin/architectures/norms.py)."""

from __future__ import annotations

import torch
from torch import nn

import gibbsnet_plugin as gn
from gibbsnet_plugin.architectures.norms import ChainBatchNorm, chain_batchnorm, chain_step, slot
from gibbsnet_plugin.calibration import calibrate_batchnorm
from gibbsnet_plugin.chains import GibbsNet

SHAPE = (1, 8, 8)


def model() -> GibbsNet:
    torch.manual_seed(0)
    arch = gn.architectures.build("conv8", SHAPE, 4, width=4, norm="batch", standardize="batch")
    m = GibbsNet(arch, SHAPE, 4, chain_steps=3)
    m.encoder, m.decoder = chain_batchnorm(m.encoder), chain_batchnorm(m.decoder)
    return m


def test_the_first_eight_steps_have_slots_of_their_own_then_one_per_doubling():
    assert [slot(t) for t in (1, 2, 8, 9, 16, 17, 32, 33, 300, 1024, 1025, 10**6)] == [
        0, 1, 7, 8, 8, 9, 9, 10, 13, 14, 15, 15]


def test_conversion_keeps_parameters_buffers_and_mode():
    net = nn.Sequential(nn.Linear(3, 5), nn.BatchNorm1d(5), nn.Sequential(nn.BatchNorm2d(2)))
    net[1].running_mean.fill_(0.5)
    net.eval()
    chain_batchnorm(net)
    assert isinstance(net[1], ChainBatchNorm) and isinstance(net[2][0], ChainBatchNorm)
    assert torch.equal(net[1].running_mean, torch.full((5,), 0.5)) and not net[1].training
    x = torch.randn(4, 5)
    assert torch.equal(net[1](x), nn.functional.batch_norm(x, net[1].running_mean, net[1].running_var,
                                                            net[1].weight, net[1].bias, False, 0, 1e-5))


def test_each_calibrated_step_normalises_with_the_statistics_that_step_had():
    m = model()
    calibrate_batchnorm(m, chains=50, steps=4, seed=3)
    first = next(n for n in m.decoder.modules() if isinstance(n, ChainBatchNorm))
    assert first.step_count[:4].tolist() == [1, 1, 1, 1] and first.step_count[4:].sum() == 0
    seen = {}
    hook = first.register_forward_pre_hook(lambda mod, args: seen.setdefault(len(seen) + 1, args[0].clone()))
    m.train()
    with torch.random.fork_rng(), torch.no_grad():
        torch.manual_seed(3)  # the same chains as calibration's, with batch statistics
        m.burn(50, 4)
    hook.remove()
    for t in (1, 2, 3, 4):
        x = seen[t]
        assert torch.allclose(first.step_mean[slot(t)], x.mean(0), atol=1e-6)
        assert torch.allclose(first.step_var[slot(t)], x.var(0), atol=1e-5)
    # eval mode: step 2 of a chain normalises with step 2's statistics, whatever the batch
    m.eval()
    probe = torch.randn(7, first.num_features)
    with chain_step(2):
        out = first(probe)
    assert torch.allclose(out, nn.functional.batch_norm(probe, first.step_mean[1], first.step_var[1],
                                                        first.weight, first.bias, False, 0, first.eps))
    with chain_step(30):  # beyond the calibration: the last measured slot (step 4)
        late = first(probe)
    assert torch.allclose(late, nn.functional.batch_norm(probe, first.step_mean[3], first.step_var[3],
                                                         first.weight, first.bias, False, 0, first.eps))


def test_a_calibrated_chain_samples_one_image_independently_of_its_batch():
    m = model()
    calibrate_batchnorm(m, chains=50, steps=20, seed=0)
    m.eval()
    z0 = torch.randn(4, 4)
    other = z0.clone()
    other[1:] = 3 * torch.randn(3, 4)
    torch.manual_seed(1)
    a = m.sample(4, steps=3, z0=z0)
    torch.manual_seed(1)
    b = m.sample(4, steps=3, z0=other)
    assert torch.allclose(a[0], b[0], atol=1e-6) and not torch.allclose(a[1], b[1])
