"""The training step and engine (gibbsnet_plugin/engines/trainer.py)."""

from __future__ import annotations

import pytest
import torch

import gibbsnet_plugin as gn
from gibbsnet_plugin.chains import GibbsNet
from gibbsnet_plugin.engines.trainer import OUTPUT_KEYS, Amp, update


def test_update_changes_every_network_and_restores_d_gradients():
    torch.manual_seed(0)
    model = GibbsNet(gn.architectures.build("test_linear", (1, 4, 4), 3), (1, 4, 4), 3, chain_steps=2)
    opt_d = torch.optim.SGD(model.discriminator.parameters(), lr=0.1)
    opt_g = torch.optim.SGD([*model.encoder.parameters(), *model.decoder.parameters()], lr=0.1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    out = update(model, opt_d, opt_g, torch.rand(8, 1, 4, 4))
    assert out.shape == (len(OUTPUT_KEYS),) and torch.isfinite(out).all()
    after = model.state_dict()
    for prefix in ("encoder.", "decoder.", "discriminator."):
        changed = [k for k in before if k.startswith(prefix) and not torch.equal(before[k], after[k])]
        assert changed, f"{prefix} parameters were not updated"
    assert all(p.requires_grad for p in model.discriminator.parameters())


def test_encoder_decoder_step_sees_the_updated_discriminator():
    torch.manual_seed(0)
    model = GibbsNet(gn.architectures.build("test_linear", (1, 4, 4), 3), (1, 4, 4), 3, chain_steps=2)
    seen: list[torch.Tensor] = []
    model.discriminator.register_forward_pre_hook(
        lambda module, args: seen.append(module.linear.weight.detach().clone()))
    opt_d = torch.optim.SGD(model.discriminator.parameters(), lr=0.1)
    opt_g = torch.optim.SGD([*model.encoder.parameters(), *model.decoder.parameters()], lr=0.1)
    update(model, opt_d, opt_g, torch.rand(8, 1, 4, 4))
    assert len(seen) == 4  # real and fake pairs in the D step, then again in the G step
    assert torch.equal(seen[0], seen[1]) and torch.equal(seen[2], seen[3])
    assert not torch.equal(seen[1], seen[2])
    assert torch.equal(seen[2], model.discriminator.linear.weight)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_steps_update_every_network(precision):
    torch.manual_seed(0)
    model = GibbsNet(gn.architectures.build("conv8", (1, 8, 8), 4, width=4), (1, 8, 8), 4, chain_steps=2)
    opt_d = torch.optim.Adam(model.discriminator.parameters(), lr=1e-3)
    opt_g = torch.optim.Adam([*model.encoder.parameters(), *model.decoder.parameters()], lr=1e-3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    amp = Amp(precision, torch.device("cpu"))
    out = update(model, opt_d, opt_g, torch.rand(8, 1, 8, 8) * 2 - 1, amp=amp)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    assert all(p.dtype == torch.float32 for p in model.parameters())
    for prefix in ("encoder.", "decoder.", "discriminator."):
        assert any(not torch.equal(before[k], v)
                   for k, v in model.state_dict().items() if k.startswith(prefix))
    assert (amp.scaler is not None) == (precision == "fp16")
