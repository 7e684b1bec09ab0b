"""The metric ``tsne``, latent maps: a t-SNE of the encodings of test images (coloured by label)
together with the latent states of unclamped chains, saved as one PNG of two panels.

Both sets are embedded by one t-SNE, so the right panel shows where the chains' states fall
relative to the data: on the data's clusters, between them, or off on their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from gibbsnet_plugin.chains import ChainModel
from gibbsnet_plugin.figures import check_output
from gibbsnet_plugin.metrics.base import Context, Metric, Result, Settings, option, register
from gibbsnet_plugin.metrics.data import no_progress
from gibbsnet_plugin.metrics.probe import encode_dataset
from gibbsnet_plugin.utils import atomic_output, seeded


def chain_latents(model: ChainModel, num: int, steps: int, seed: int | None = 0) -> np.ndarray:
    """The latent states z_(steps) = enc(x_steps) of ``num`` unclamped chains, (num, z_dim)."""
    with seeded(seed, model.device), torch.no_grad():
        return model.features(model.sample(num, steps)).cpu().double().numpy()


def latent_map(
    model: ChainModel, test: Dataset, path: str | Path, num: int = 500, steps: int | None = None,
    seed: int = 0, title: str = "",
) -> dict[str, Any]:
    """Write the t-SNE figure of the first ``num`` test encodings and of ``num`` chain states
    after ``steps`` (default: the model's ``chain_steps``) to ``path`` (PNG).

    The figure is drawn on a ``matplotlib.figure.Figure`` of its own, without pyplot, so the
    caller's matplotlib backend and open figures are left alone.
    Returns ``path``, ``num_images``, ``num_chains`` and ``chain_steps``.
    """
    from matplotlib.figure import Figure  # noqa: PLC0415  (slow imports, only for this figure)
    from sklearn.manifold import TSNE  # noqa: PLC0415

    steps = model.chain_steps if steps is None else steps
    subset = torch.utils.data.Subset(test, range(min(num, len(test))))  # type: ignore[arg-type]
    z_data, y = encode_dataset(model, subset, seed=seed)
    z_chain = chain_latents(model, len(z_data), steps, seed)
    both = np.concatenate([z_data, z_chain])
    embedded = TSNE(2, perplexity=min(30.0, (len(both) - 1) / 3), init="pca",
                    random_state=seed).fit_transform(both)
    data, chain = embedded[: len(z_data)], embedded[len(z_data):]

    fig = Figure(figsize=(10, 4.8))
    left, right = fig.subplots(1, 2, sharex=True, sharey=True)
    scatter = left.scatter(*data.T, c=y, cmap="tab10", s=6)
    left.legend(*scatter.legend_elements(), title="label", fontsize=7, loc="best", markerscale=0.7)
    left.set_title("encodings of test images")
    right.scatter(*data.T, c="0.85", s=6, label="test encodings")
    right.scatter(*chain.T, c="tab:red", s=6, label=f"chain states, step {steps}")
    right.legend(fontsize=7, loc="best")
    right.set_title(f"unclamped chain after {steps} step{'' if steps == 1 else 's'}")
    for ax in (left, right):
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    return {"path": str(path), "num_images": len(z_data), "num_chains": len(z_chain),
            "chain_steps": steps}


@dataclass(frozen=True)
class LatentMapOptions:
    """The option of ``tsne``."""

    figure: str | Path | None = option(
        None, "the PNG path of the latent map (default: tsne-<run label>.png, or tsne.png)")

    def path(self, settings: Settings) -> Path:
        """Where the figure goes: ``figure``, else ``tsne-<run_label>.png`` (``tsne.png`` when
        the run has no label)."""
        if self.figure is not None:
            return Path(self.figure)
        return Path(f"tsne-{settings.run_label}.png" if settings.run_label else "tsne.png")


@register("tsne")
class LatentMap(Metric[LatentMapOptions]):
    """The t-SNE figure of test encodings and chain states, written to ``figure``; no score."""

    summary = "t-SNE figure of test encodings and chain states (a PNG; no score)"
    during_training = False
    Options = LatentMapOptions

    def score_names(self, masks: Sequence[str], levels: int) -> list[str]:
        return []

    def check(self, ctx: Context[LatentMapOptions]) -> None:
        check_output(ctx.options.path(ctx.settings), (".png",), "figure", ctx.settings.force)

    def run(self, ctx: Context[LatentMapOptions]) -> Result:
        s = ctx.settings
        report = ctx.progress or no_progress
        report("t-SNE latent map", 0, 1)
        details = latent_map(ctx.model, ctx.data.test, ctx.options.path(s), steps=s.chain_steps,
                             seed=s.seed, title=s.title)
        report("t-SNE latent map", 1, 1)
        return Result({}, {"tsne": details})
