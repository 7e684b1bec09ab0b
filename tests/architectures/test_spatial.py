"""One spatial latent layer and local discriminators (architectures/spatial.py)."""

from __future__ import annotations

import pytest
import torch

import gibbsnet_plugin as gn
from conftest import tiny_recipe
from gibbsnet_plugin.architectures.spatial import LocalDiscriminator, SummedCritics
from gibbsnet_plugin.chains import check_architecture
from gibbsnet_plugin.factory import build_model


@pytest.mark.parametrize(("name", "shape", "stride", "grid"), [
    ("conv8", (1, 8, 8), 2, 4), ("conv8", (1, 8, 8), 1, 8), ("conv28", (1, 28, 28), 4, 7),
    ("conv32", (3, 32, 32), 8, 4)])
def test_spatial_z_has_the_stride_s_grid(name, shape, stride, grid):
    torch.manual_seed(0)
    arch = gn.architectures.build(name, shape, 5, z_stride=stride, norm="layer", width=8)
    check_architecture(arch, shape, 5, name)
    x = torch.rand(3, *shape) * 2 - 1
    z = arch.encoder(x)
    assert z.shape == (3, 5, grid, grid) and arch.latent_shape == (5, grid, grid)
    x2 = arch.decoder(z)
    assert x2.shape == (3, *shape) and x2.abs().max() <= 1
    assert arch.discriminator(x, z).shape == (3,)


def test_local_critic_gives_one_logit_per_neighbourhood_and_their_mean():
    torch.manual_seed(0)
    arch = gn.architectures.build("conv28", (1, 28, 28), 4, z_stride=4, critic="local", width=8)
    d = arch.discriminator
    assert isinstance(d, LocalDiscriminator)
    d.eval()
    x = torch.rand(2, 1, 28, 28) * 2 - 1
    z = torch.randn(2, 4, 7, 7)
    patches = d.patches(x, z)
    assert patches.shape == (2, 49)
    assert torch.allclose(d(x, z), patches.mean(1))
    # changing the top-left corner of x and z moves only the logits of nearby neighbourhoods
    x2, z2 = x.clone(), z.clone()
    x2[:, :, :4, :4] = -x2[:, :, :4, :4]
    z2[:, :, 0, 0] += 3.0
    moved = (d.patches(x2, z2) - patches).abs().view(2, 7, 7) > 1e-6
    assert moved[:, 0, 0].all() and not moved[:, 4:, :].any() and not moved[:, :, 4:].any()


def test_both_critics_sum_a_global_and_a_local_logit():
    arch = gn.architectures.build("conv8", (1, 8, 8), 4, z_stride=2, critic="both")
    d = arch.discriminator
    assert isinstance(d, SummedCritics)
    d.eval()
    x, z = torch.rand(3, 1, 8, 8), torch.randn(3, 4, 4, 4)
    assert torch.allclose(d(x, z), d.critics[0](x, z) + d.critics[1](x, z))


@pytest.mark.parametrize(("options", "message"), [
    ({"critic": "local"}, "critic 'local' judges neighbourhoods .* needs a spatial z: set z_stride"),
    ({"z_stride": 3}, "z_stride must be a power of 2"),
    ({"z_stride": 16}, "z_stride 16 does not divide the image sides 8×8"),
    ({"z_stride": 2, "critic": "patch"}, "critic must be one of global, local, both"),
])
def test_bad_spatial_options_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        gn.architectures.build("conv8", (1, 8, 8), 4, **options)


def test_a_hierarchy_refuses_z_stride():
    with pytest.raises(ValueError, match="remove z_stride or give one z_dim"):
        gn.architectures.build("conv8", (1, 8, 8), [4, 2], z_stride=2)


def test_a_spatial_chain_trains_packed_samples_and_inpaints(tmp_path):
    recipe = tiny_recipe(model={"architecture": "conv8", "z_dim": 3, "pack": 2,
                                "options": {"z_stride": 2, "critic": "both", "width": 8,
                                            "norm": "layer", "standardize": "sample"}},
                         data={"dataset": "digits", "batch_size": 16})
    run = gn.train(recipe, out=tmp_path / "run")
    model = gn.load_model(run)
    assert model.latent_shapes == [(3, 4, 4)]
    torch.manual_seed(0)
    x = model.sample(4, steps=3)
    assert x.shape == (4, 1, 8, 8)
    assert model.encode(x).shape == (4, 3, 4, 4)
    observed = gn.resolve_mask("right-half", (1, 8, 8))
    filled = model.inpaint(x, observed, steps=2)
    assert torch.equal(filled[..., :4], x[..., :4])
    assert model.features(x).shape == (4, 48)
    assert model.reconstruct(x).shape == (4, 1, 8, 8)
    assert build_model(recipe, (1, 8, 8)).features(x).shape == (4, 48)
