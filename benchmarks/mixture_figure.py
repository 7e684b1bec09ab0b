"""Scatter plots of 2-D mixture runs (``grid25``, ``ring8``): the unclamped chain's samples at
several chain lengths, one row per run, with the mixture's modes and their 3-std circles.

    python benchmarks/mixture_figure.py runs/grid25 runs/grid25-ali --steps 3 100 \\
        --out docs/images/grid25.png
"""

from __future__ import annotations

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

import gibbsnet_plugin as gn  # noqa: E402
from gibbsnet_plugin.checkpoint import load_model_and_recipe  # noqa: E402
from gibbsnet_plugin.metrics.modes import mixture_of, mode_scores  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--labels", nargs="+", default=None, help="row titles (default: run paths)")
    parser.add_argument("--steps", type=int, nargs="+", default=[3, 100])
    parser.add_argument("--num", type=int, default=2500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    labels = args.labels or args.runs
    fig, axes = plt.subplots(len(args.runs), len(args.steps), squeeze=False,
                             figsize=(3.2 * len(args.steps), 3.2 * len(args.runs)))
    for row, (run, label) in enumerate(zip(args.runs, labels, strict=True)):
        model, recipe, _ = load_model_and_recipe(run, device="cpu")
        data = gn.datasets.build(recipe.data.dataset, recipe.data.root, train=True, **recipe.data.options)
        centres, std = mixture_of(data)
        torch.manual_seed(args.seed)
        states = model.trajectory(args.num, args.steps)
        span = float(centres.abs().max()) * 1.35
        for col, step in enumerate(sorted(set(args.steps))):
            x = states[:, col]
            s = mode_scores(x, centres, std)
            ax = axes[row][col]
            ax.scatter(x[:, 0], x[:, 1], s=1, alpha=0.4, color="tab:blue")
            for c in centres:
                ax.add_patch(plt.Circle(tuple(c.tolist()), 3 * std, fill=False, color="tab:red", lw=0.6))
            ax.set_xlim(-span, span)
            ax.set_ylim(-span, span)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{label}, step {step}\n{s['modes']} modes, "
                         f"{100 * s['modes_high_quality']:.1f} % HQ, KL {s['modes_reverse_kl']:.2f}",
                         fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
