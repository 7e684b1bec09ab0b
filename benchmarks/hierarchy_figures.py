"""Figures of a latent hierarchy's modes of being (docs/hierarchies.md), from one trained run:

- ``<name>-ready-to-hand.png``: one column per test image; under it, x from chains whose top layer
  is held at that image's encoding (one zL, many x);
- ``<name>-daydreaming.png`` (deep GibbsNet only): one row per test image (first column), then x
  decoded from z1 over the steps of a chain with x clamped to the image and impotent (what the
  latents dream).

    python benchmarks/hierarchy_figures.py runs/final/digits/deep/seed0 --out-dir docs/images \\
        --name deep
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

import gibbsnet_plugin as gn
from gibbsnet_plugin.utils import seeded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--out-dir", default=".")
    parser.add_argument("--name", default="hierarchy")
    parser.add_argument("--images", type=int, default=8, help="test images (default 8)")
    parser.add_argument("--samples", type=int, default=8, help="x per image, ready-to-hand")
    parser.add_argument("--steps", type=int, default=20, help="chain steps, ready-to-hand")
    parser.add_argument("--daydream", type=int, nargs="+", default=[1, 2, 5, 10, 20, 50, 100])
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    run = gn.load_run(args.run, device="cpu")
    model, figures = run.model, gn.figures
    images = gn.dataset_images(run.recipe, "test", args.images, model.x_shape)
    out = Path(args.out_dir)
    with seeded(args.seed, model.device), torch.no_grad():
        top = model.encode(images)[-1]
        rows = [images]
        for _ in range(args.samples):
            states = model.run_chain(len(images), [args.steps], clamp={model.levels: top})
            rows.append(states.layers[0][:, 0])
    labels = ["image", *(f"x {i + 1}" for i in range(args.samples))]
    ready = out / f"{args.name}-ready-to-hand.png"
    figures.save_png(figures.rows_image(rows, labels, scale=args.scale), ready)

    if model.kind == "hali":  # impotent layers need an undirected hierarchy
        print(f"wrote {ready} (no daydreaming figure for HALI)")
        return
    chains = gn.modes(model, len(images), max(args.daydream), mode="daydreaming", images=images,
                      seed=args.seed, record=args.daydream)
    frames = gn.imagined(model, chains.states)
    day = out / f"{args.name}-daydreaming.png"
    figures.save_png(figures.trajectory_image(frames, args.daydream, images, args.scale), day)
    print(f"wrote {ready}, {day}")


if __name__ == "__main__":
    main()
