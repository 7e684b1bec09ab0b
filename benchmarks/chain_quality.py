"""How well does a trained digits model's unclamped chain stay on the data manifold?

For each run, samples chains of ``--steps`` lengths and scores every chain state with two
classifiers trained on the digits training split (pixels in [-1, 1]), neither of them part of the
model:

- ``classes``: how many of the 10 classes appear among samples a logistic regression classifies
  with probability >= 0.9;
- ``entropy``: entropy of the logistic regression's class histogram divided by log 10
  (1.0 = every class equally often, 0 = a single class);
- ``confidence``: the mean top-class probability;
- ``nn_ratio``: distance of the samples to their nearest training image relative to test images'
  distance (1.0 = as close as real held-out digits; larger = off the manifold);
- ``fd``: Fréchet distance between the samples and the test images in the 128 hidden features of
  an MLP classifier (the Fréchet Inception Distance's recipe with a digits network; 0 = same
  statistics).

    python benchmarks/chain_quality.py runs/digits runs/digits-ali --steps 1 10 100 1000
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier

import gibbsnet_plugin as gn
from gibbsnet_plugin.metrics.fid import frechet_distance

HIGHER_IS_BETTER = {"classes": True, "entropy": True, "confidence": True, "nn_ratio": False, "fd": False}
"""Every score of ``chain_stats`` and which direction is better (for the worst seed)."""


@dataclass
class Reference:
    """The judges: a logistic regression, an MLP whose hidden layer gives features, and the
    training images and test statistics they compare samples with."""

    clf: LogisticRegression
    mlp: MLPClassifier
    x_train: torch.Tensor
    test_nn: float
    test_mu: np.ndarray
    test_sigma: np.ndarray

    def features(self, flat: np.ndarray) -> np.ndarray:
        """(N, 64) pixels -> (N, 128) hidden ReLU features of the MLP classifier."""
        return np.maximum(flat @ self.mlp.coefs_[0] + self.mlp.intercepts_[0], 0.0)


def reference(seed: int = 0) -> Reference:
    x_train, y_train = gn.datasets.build("digits", "", train=True).tensors
    x_test = gn.datasets.build("digits", "", train=False).tensors[0]
    flat_train, flat_test = x_train.flatten(1), x_test.flatten(1)
    clf = LogisticRegression(max_iter=2000, C=1.0, random_state=seed)
    clf.fit(flat_train.numpy(), y_train.numpy())
    mlp = MLPClassifier(hidden_layer_sizes=(128,), max_iter=500, random_state=seed)
    mlp.fit(flat_train.numpy(), y_train.numpy())
    test_nn = torch.cdist(flat_test, flat_train).min(1).values.mean().item()
    feats = Reference(clf, mlp, flat_train, test_nn, np.zeros(0), np.zeros(0)).features(flat_test.numpy())
    return Reference(clf, mlp, flat_train, test_nn, feats.mean(0), np.cov(feats, rowvar=False))


def state_stats(x: torch.Tensor, ref: Reference) -> dict[str, float]:
    """The scores of one set of chain states x, shape (N, 1, 8, 8)."""
    flat = x.flatten(1).cpu()
    proba = ref.clf.predict_proba(flat.numpy())
    confident = proba.max(1) >= 0.9
    counts = np.bincount(proba.argmax(1), minlength=10) / len(flat)
    entropy = -sum(p * math.log(p) for p in counts if p > 0) / math.log(10)
    nn_dist = torch.cdist(flat, ref.x_train).min(1).values.mean().item()
    feats = ref.features(flat.numpy().astype(np.float64))
    fd = frechet_distance(feats.mean(0), np.cov(feats, rowvar=False), ref.test_mu, ref.test_sigma)
    return {
        "classes": int(len(set(proba.argmax(1)[confident]))),
        "entropy": round(entropy, 4),
        "confidence": round(float(proba.max(1).mean()), 4),
        "nn_ratio": round(nn_dist / ref.test_nn, 4),
        "fd": round(fd, 3),
    }


def chain_stats(model: gn.GibbsNet, steps: list[int], n: int, seed: int,
                ref: Reference) -> list[dict[str, float]]:
    """``state_stats`` of ``n`` eval-mode chains at each of ``steps``, one row per step."""
    model.eval()
    torch.manual_seed(seed)
    states = model.trajectory(n, steps)
    return [{"step": t, **state_stats(states[:, i], ref)} for i, t in enumerate(sorted(set(steps)))]


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
        print(f"  {'step':>6} {'classes':>8} {'entropy':>8} {'conf':>6} {'nn_ratio':>9} {'fd':>8}")
        for r in rows:
            print(f"  {r['step']:>6} {r['classes']:>8} {r['entropy']:>8.3f} "
                  f"{r['confidence']:>6.3f} {r['nn_ratio']:>9.3f} {r['fd']:>8.2f}")


if __name__ == "__main__":
    main()
