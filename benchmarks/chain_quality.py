"""How well does a trained digits model's unclamped chain stay on the data manifold?

For each run, samples chains of ``--steps`` lengths and classifies every sample with a logistic
regression trained on the digits training split (pixels in [-1, 1]). Prints, per chain length:
how many of the 10 classes appear (of samples classified with probability >= 0.9), the entropy of
the class histogram (log 10 = 2.30 is uniform), the mean top-class probability, and the distance
of the samples to their nearest training image relative to test images' distance (1.0 = as close
as real held-out digits; larger = off the manifold).

    python benchmarks/chain_quality.py runs/digits runs/digits-ali --steps 1 10 100 1000
"""

from __future__ import annotations

import argparse
import json
import math

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

import gibbsnet_plugin as gn


def reference(seed: int = 0) -> tuple[LogisticRegression, torch.Tensor, float]:
    train = gn.datasets.build("digits", "", train=True)
    test = gn.datasets.build("digits", "", train=False)
    x_train, y_train = train.tensors
    x_test = test.tensors[0]
    clf = LogisticRegression(max_iter=2000, C=1.0, random_state=seed)
    clf.fit(x_train.flatten(1).numpy(), y_train.numpy())
    test_nn = torch.cdist(x_test.flatten(1), x_train.flatten(1)).min(1).values.mean().item()
    return clf, x_train.flatten(1), test_nn


def chain_stats(model: gn.GibbsNet, steps: list[int], n: int, seed: int,
                ref: tuple[LogisticRegression, torch.Tensor, float]) -> list[dict[str, float]]:
    clf, x_train, test_nn = ref
    torch.manual_seed(seed)
    wanted = set(steps)
    rows = []
    for t, (x, _) in enumerate(model.iterate(model.prior(n)), start=1):
        if t in wanted:
            flat = x.flatten(1).cpu()
            proba = clf.predict_proba(flat.numpy())
            confident = proba.max(1) >= 0.9
            counts = np.bincount(proba.argmax(1), minlength=10) / n
            entropy = -sum(p * math.log(p) for p in counts if p > 0)
            nn_dist = torch.cdist(flat, x_train).min(1).values.mean().item()
            rows.append({
                "step": t,
                "classes": int(len(set(proba.argmax(1)[confident]))),
                "entropy": round(entropy, 3),
                "confidence": round(float(proba.max(1).mean()), 3),
                "nn_ratio": round(nn_dist / test_nn, 3),
            })
        if t >= max(steps):
            return rows
    raise AssertionError("unreachable")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--steps", type=int, nargs="+", default=[1, 10, 100, 1000])
    parser.add_argument("--num", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    ref = reference()
    for run in args.runs:
        model = gn.load_model(run, device="cpu")
        rows = chain_stats(model, sorted(args.steps), args.num, args.seed, ref)
        if args.json:
            print(json.dumps({"run": run, "rows": rows}))
            continue
        print(f"{run}")
        print(f"  {'step':>6} {'classes':>8} {'entropy':>8} {'conf':>6} {'nn_ratio':>9}")
        for r in rows:
            print(f"  {r['step']:>6} {r['classes']:>8} {r['entropy']:>8.3f} "
                  f"{r['confidence']:>6.3f} {r['nn_ratio']:>9.3f}")


if __name__ == "__main__":
    main()
