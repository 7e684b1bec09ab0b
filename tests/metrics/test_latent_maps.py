"""t-SNE latent maps (gibbsnet_plugin/metrics/latent_maps.py)."""

from __future__ import annotations

import pytest
from PIL import Image

from gibbsnet_plugin.metrics.latent_maps import latent_map

pytestmark = pytest.mark.slow


def test_latent_map_writes_a_png(loaded, test_split, tmp_path):
    info = latent_map(loaded.model, test_split, tmp_path / "map.png", num=60, steps=4, title="t")
    assert info == {"path": str(tmp_path / "map.png"), "num_images": 60, "num_chains": 60,
                    "chain_steps": 4}
    with Image.open(tmp_path / "map.png") as image:
        assert image.format == "PNG" and image.size == (1000, 480)
    assert [p.name for p in tmp_path.iterdir()] == ["map.png"]


def test_latent_map_leaves_the_callers_matplotlib_backend_alone(loaded, test_split, tmp_path):
    # It used to switch the whole process to Agg with matplotlib.use.
    import matplotlib

    previous = matplotlib.get_backend()
    matplotlib.use("svg")
    try:
        latent_map(loaded.model, test_split, tmp_path / "map.png", num=20, steps=2)
        assert matplotlib.get_backend() == "svg"
    finally:
        matplotlib.use(previous)
    assert (tmp_path / "map.png").exists()
