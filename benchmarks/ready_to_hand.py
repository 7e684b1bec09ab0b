"""Does a held top layer keep the concept? For digits runs of a latent hierarchy: the share of
ready-to-hand samples (zL held at a test image's encoding, the lower layers free for ``--steps``)
that a logistic-regression digits classifier (``chain_quality.reference``) gives the image's own
label, against the same classifier on the real test images and on free (dreaming) chains;
mean ± std (worst seed) over the runs given (one per seed).

    python benchmarks/ready_to_hand.py runs/final/digits/deep/seed{0,1,2}
"""

from __future__ import annotations

import argparse
import statistics

import torch
from chain_quality import reference

import gibbsnet_plugin as gn
from gibbsnet_plugin.utils import seeded


def agreement(run: str, images: int, samples: int, steps: int, seed: int, ref) -> dict[str, float]:
    """Shares (0 ... 1) of samples classified as their image's label: ``ready`` (zL held),
    ``free`` (dreaming chains, against the same labels: chance) and ``real`` (the images)."""
    loaded = gn.load_run(run, device="cpu")
    model = loaded.model
    test = gn.datasets.build("digits", "", train=False)
    x, y = test.tensors[0][:images], test.tensors[1][:images]

    def share(batch: torch.Tensor, labels: torch.Tensor) -> float:
        predicted = ref.clf.predict(batch.flatten(1).numpy())
        return float((torch.as_tensor(predicted) == labels).float().mean())

    with seeded(seed, model.device), torch.no_grad():
        top = model.encode(x)[-1]
        ready = [model.run_chain(len(x), [steps], clamp={model.levels: top}).layers[0][:, 0]
                 for _ in range(samples)]
        free = model.run_chain(len(x), [steps]).layers[0][:, 0]
    return {"ready": share(torch.cat(ready), y.repeat(samples)), "free": share(free, y),
            "real": share(x, y)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="runs of one variant, one per seed")
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--samples", type=int, default=8, help="chains per image")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    ref = reference()
    rows = [agreement(run, args.images, args.samples, args.steps, args.seed, ref) for run in args.runs]
    print(f"{len(rows)} runs, {args.images} test images × {args.samples} chains of {args.steps} steps")
    for key, what in (("ready", "ready-to-hand samples with the image's label"),
                      ("free", "free chains with the image's label (chance)"),
                      ("real", "the real images classified correctly")):
        values = [100 * r[key] for r in rows]
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        print(f"{what}: {statistics.fmean(values):.1f} ± {std:.1f} % (worst {min(values):.1f} %)")


if __name__ == "__main__":
    main()
