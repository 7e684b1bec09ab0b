"""How good a sampler is a trained model's unclamped chain, and how does it mix?

For each run (digits or mnist5k), samples chains of ``--steps`` lengths and scores every chain
state with two classifiers trained on the data set's training split (pixels in [-1, 1]), neither
of them part of the model:

- ``classes``: how many of the 10 classes appear among samples a logistic regression classifies
  with probability >= 0.9;
- ``entropy``: entropy of the logistic regression's class histogram divided by log 10
  (1.0 = every class equally often, 0 = a single class);
- ``confidence``: the mean top-class probability;
- ``nn_ratio``: distance of the samples to their nearest training image relative to test images'
  distance (1.0 = as close as real held-out digits; larger = off the manifold);
- ``fd``: Fréchet distance between the samples and the test images in the 128 hidden features of
  an MLP classifier (the Fréchet Inception Distance's recipe with a digits network; 0 = same
  statistics);
- ``recall`` and ``precision`` (Kynkäänniemi et al. 2019, k = 5) in the same features: the share
  of test images inside the samples' manifold, and of samples inside the test images';
- ``switch``: the share of chains whose class changes in one step (from step t-1 to t): how
  fast the chain mixes between classes (step 1 has none);
- ``d_auc``: the model's own discriminator's held-out AUC of test pairs against the chain's states
  (``gibbsnet_plugin.metrics.critic``; 0.5 = D cannot tell them apart).

``--independent P`` scores the discriminator-corrected chain instead (``chains.corrected_states``:
at each step, with probability P, a Metropolis-Hastings independence move that D accepts or
rejects); each row then adds ``acceptance``, the share of proposals accepted up to that step
(None at step 1, which makes none). Its ``d_auc`` is D's view of states that D itself selected.
``--restart`` is its control without D: the same proposals, every one accepted (the chain restarts
with probability P per step).

Per run, ``retention`` is the share of test images whose reconstruction dec(enc(x)) the logistic
regression gives the image's own label: memory (1.0) against mixing (0.1 = chance).

    python benchmarks/chain_quality.py runs/digits runs/digits-ali --steps 1 10 100 1000
    python benchmarks/chain_quality.py runs/digits --steps 1 10 100 1000 --independent 0.5
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier

import gibbsnet_plugin as gn
from gibbsnet_plugin.chains import corrected_states
from gibbsnet_plugin.checkpoint import load_model_and_recipe
from gibbsnet_plugin.metrics.critic import critic_auc
from gibbsnet_plugin.metrics.fid import frechet_distance

HIGHER_IS_BETTER = {"classes": True, "entropy": True, "confidence": True, "nn_ratio": False,
                    "fd": False, "recall": True, "precision": True}
"""Every quality score of ``chain_stats`` and which direction is better (for the worst seed).
``switch``, ``d_auc`` and ``acceptance`` describe the chain rather than rank it; they are reported
with their worst seed taken as the lowest (``switch``: the stickiest chain; ``acceptance``: the
corrected chain that moves least) and highest (``d_auc``)."""
DIAGNOSTICS = {"switch": True, "d_auc": False, "acceptance": True}
DATASETS = ("digits", "mnist5k")
K_NEAREST = 5


@dataclass
class Reference:
    """The judges: a logistic regression, an MLP whose hidden layer gives features, and the
    training images and test statistics they compare samples with."""

    clf: LogisticRegression
    mlp: MLPClassifier
    x_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    test_nn: float
    test_feats: np.ndarray
    test_radii: np.ndarray

    def features(self, flat: np.ndarray) -> np.ndarray:
        """(N, pixels) -> (N, 128) hidden ReLU features of the MLP classifier."""
        return np.maximum(flat @ self.mlp.coefs_[0] + self.mlp.intercepts_[0], 0.0)


def _radii(feats: np.ndarray, k: int = K_NEAREST) -> np.ndarray:
    """Distance of each row to its k-th nearest other row (the manifold's local radius)."""
    d = torch.cdist(torch.from_numpy(feats), torch.from_numpy(feats))
    return d.kthvalue(k + 1, dim=1).values.numpy()


@lru_cache(maxsize=2)
def reference(dataset: str = "digits", seed: int = 0, binarize: bool = False) -> Reference:
    """The judges of ``dataset`` (digits or mnist5k; ``binarize``: its binary form), fitted on
    its training split."""
    if dataset not in DATASETS:
        raise SystemExit(f"chain_quality scores {' and '.join(DATASETS)} runs, not {dataset!r}")
    x_train, y_train = gn.datasets.build(dataset, "", train=True, binarize=binarize).tensors
    x_test, y_test = gn.datasets.build(dataset, "", train=False, binarize=binarize).tensors
    flat_train, flat_test = x_train.flatten(1), x_test.flatten(1)
    clf = LogisticRegression(max_iter=2000, C=1.0 if dataset == "digits" else 0.05, random_state=seed)
    clf.fit(flat_train.numpy(), y_train.numpy())
    mlp = MLPClassifier(hidden_layer_sizes=(128,), max_iter=500, random_state=seed)
    mlp.fit(flat_train.numpy(), y_train.numpy())
    test_nn = torch.cdist(flat_test, flat_train).min(1).values.mean().item()
    ref = Reference(clf, mlp, flat_train, x_test, y_test, test_nn, np.zeros(0), np.zeros(0))
    ref.test_feats = ref.features(flat_test.numpy().astype(np.float64))
    ref.test_radii = _radii(ref.test_feats)
    return ref


def precision_recall(fake: np.ndarray, real: np.ndarray, real_radii: np.ndarray) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) of features ``fake`` against
    ``real``: the share of fake rows within some real row's k-NN radius, and of real rows within
    some fake row's."""
    fake_radii = _radii(fake)
    d = torch.cdist(torch.from_numpy(fake), torch.from_numpy(real)).numpy()
    precision = float((d <= real_radii[None, :]).any(1).mean())
    recall = float((d <= fake_radii[:, None]).any(0).mean())
    return precision, recall


def state_stats(x: torch.Tensor, ref: Reference) -> dict[str, float]:
    """The scores of one set of chain states x, shape (N, *image shape)."""
    flat = x.flatten(1).cpu()
    proba = ref.clf.predict_proba(flat.numpy())
    confident = proba.max(1) >= 0.9
    counts = np.bincount(proba.argmax(1), minlength=10) / len(flat)
    entropy = -sum(p * math.log(p) for p in counts if p > 0) / math.log(10)
    nn_dist = torch.cdist(flat, ref.x_train).min(1).values.mean().item()
    feats = ref.features(flat.numpy().astype(np.float64))
    fd = frechet_distance(feats.mean(0), np.cov(feats, rowvar=False), ref.test_feats.mean(0),
                          np.cov(ref.test_feats, rowvar=False))
    precision, recall = precision_recall(feats, ref.test_feats, ref.test_radii)
    return {
        "classes": int(len(set(proba.argmax(1)[confident]))),
        "entropy": round(entropy, 4),
        "confidence": round(float(proba.max(1).mean()), 4),
        "nn_ratio": round(nn_dist / ref.test_nn, 4),
        "fd": round(fd, 3),
        "recall": round(recall, 4),
        "precision": round(precision, 4),
    }


SAMPLERS = ("eval", "batch")
"""How the transitions normalise while sampling: ``eval`` (stored statistics, per chain step for
batch norm: an image never depends on its batch) or ``batch`` (the statistics of the batch of
chains, as in training and in the GibbsNet authors' sampler)."""


def chain_states(model: gn.ChainModel, n: int, steps: list[int],
                 independent: float = 0.0,
                 restart: bool = False) -> tuple[torch.Tensor, dict[int, float | None]]:
    """x of ``n`` unclamped chains at the sorted ``steps``, (n, len(steps), *x_shape), corrected by
    D with probability ``independent`` per step (0: the plain chain, ``model.trajectory``), and
    step -> the share of independent proposals accepted up to it (None: none made); ``restart``:
    every proposal accepted (the control without D)."""
    if not independent:
        with torch.no_grad():
            return model.trajectory(n, steps), dict.fromkeys(steps)
    chains = corrected_states(model, n, steps, independent, restart=restart)
    x = torch.stack([state[0] for state in chains.states], dim=1)
    return x, dict(zip(chains.steps, chains.acceptance_by_step, strict=True))


def acceptance_cell(rate: float | None) -> float | None:
    """An acceptance rate as a row of scores holds it: rounded, None where no proposal was made."""
    return None if rate is None else round(rate, 4)


def chain_stats(model: gn.GibbsNet, steps: list[int], n: int, seed: int,
                ref: Reference, sampler: str = "eval", independent: float = 0.0,
                restart: bool = False) -> list[dict[str, float]]:
    """``state_stats`` of ``n`` chains at each of ``steps``, one row per step, with the class
    switch rate into each step (from step t-1 of the same chains) and D's AUC of test data
    against that step's states (D in eval mode); ``sampler`` as in ``SAMPLERS``; ``independent``
    > 0 scores the D-corrected chain (``chain_states``) and adds ``acceptance`` to each row."""
    model.eval()
    steps = sorted(set(steps))
    recorded = sorted({*steps, *(t - 1 for t in steps if t > 1)})
    torch.manual_seed(seed)
    model.encoder.train(sampler == "batch")
    model.decoder.train(sampler == "batch")
    states, acceptance = chain_states(model, n, recorded, independent, restart)
    model.eval()
    index = {t: i for i, t in enumerate(recorded)}
    classes = {t: ref.clf.predict(states[:, i].flatten(1).numpy()) for t, i in index.items()}
    test = torch.utils.data.TensorDataset(ref.x_test, ref.y_test)
    auc = critic_auc(model, test, steps, seed=seed, independent=independent, restart=restart)
    rows = []
    for t in steps:
        switch = float((classes[t] != classes[t - 1]).mean()) if t > 1 else 0.0
        rows.append({"step": t, **state_stats(states[:, index[t]], ref), "switch": round(switch, 4),
                     "d_auc": round(auc[t], 4)})
        if independent:
            rows[-1]["acceptance"] = acceptance_cell(acceptance[t])
    return rows


def retention(model: gn.GibbsNet, ref: Reference, seed: int = 0) -> float:
    """The share of test images whose reconstruction keeps the image's label (logistic
    regression)."""
    model.eval()
    torch.manual_seed(seed)
    with torch.no_grad():
        rebuilt = model.reconstruct(ref.x_test.to(model.device)).cpu()
    return round(float((ref.clf.predict(rebuilt.flatten(1).numpy()) == ref.y_test.numpy()).mean()), 4)


def recovery(model: gn.GibbsNet, ref: Reference, mask: str = "right-half", steps: int = 20,
             seed: int = 0) -> float:
    """The share of test images that the logistic regression gives their own label after the
    region ``mask`` was hidden and inpainted by ``steps`` steps of the partially clamped chain."""
    model.eval()
    torch.manual_seed(seed)
    observed = gn.resolve_mask(mask, tuple(ref.x_test.shape[1:]))
    with torch.no_grad():
        filled = model.inpaint(ref.x_test.to(model.device), observed, steps).cpu()
    return round(float((ref.clf.predict(filled.flatten(1).numpy()) == ref.y_test.numpy()).mean()), 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--steps", type=int, nargs="+", default=[1, 10, 100, 1000])
    parser.add_argument("--num", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sampler", choices=SAMPLERS, default="eval")
    parser.add_argument("--independent", type=float, default=0.0, metavar="P",
                        help="score the chain corrected by D: at each step, with probability P, a "
                             "fresh chain of the trained length is proposed and D accepts or "
                             "rejects it (default 0: the plain chain)")
    parser.add_argument("--restart", action="store_true",
                        help="with --independent: the control without D, every proposal accepted")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not 0.0 <= args.independent <= 1.0:
        parser.error(f"--independent {args.independent}: expected a probability between 0 and 1")
    if args.restart and not args.independent:
        parser.error("--restart is the control of --independent P: give both")
    for run in args.runs:
        model, recipe, _ = load_model_and_recipe(run, device="cpu")
        ref = reference(recipe.data.dataset)
        rows = chain_stats(model, sorted(args.steps), args.num, args.seed, ref, args.sampler,
                           args.independent, args.restart)
        kept = retention(model, ref, args.seed)
        if args.json:
            corrected = {"independent": args.independent} if args.independent else {}
            corrected = {**corrected, "restart": True} if args.restart else corrected
            print(json.dumps({"run": run, **corrected, "rows": rows, "retention": kept}))
            continue
        corrected = f", independent proposals with P = {args.independent:g}" if args.independent else ""
        print(f"{run} (label retention of reconstruction: {kept:.3f}{corrected})")
        accept = f" {'accept':>7}" if args.independent else ""
        print(f"  {'step':>6} {'classes':>8} {'entropy':>8} {'conf':>6} {'nn_ratio':>9} {'fd':>8} "
              f"{'recall':>7} {'prec':>6} {'switch':>7} {'d_auc':>6}{accept}")
        for r in rows:
            rate = r.get("acceptance")
            accept = (f" {'-':>7}" if rate is None else f" {rate:>7.3f}") if args.independent else ""
            print(f"  {r['step']:>6} {r['classes']:>8} {r['entropy']:>8.3f} "
                  f"{r['confidence']:>6.3f} {r['nn_ratio']:>9.3f} {r['fd']:>8.2f} "
                  f"{r['recall']:>7.3f} {r['precision']:>6.3f} {r['switch']:>7.3f} {r['d_auc']:>6.3f}"
                  f"{accept}")


if __name__ == "__main__":
    main()
