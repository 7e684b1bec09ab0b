"""RBMs trained three ways, judged by their exact likelihood and as samplers.

On the bundled digits binarised (``recipes/rbm.yaml``), with the same number of hidden units
(at most 24, so that the partition function is an exact sum over hidden states):

- ``pcd``: scikit-learn's ``BernoulliRBM`` (persistent contrastive divergence, the classical
  trainer), wrapped as a ``rbm`` model (``model.options.init``) to be scored like the others;
- ``gibbsnet``: the ``rbm`` recipe, trained by GibbsNet's adversarial objective through its
  binary units;
- ``pcd+gibbsnet``: the PCD RBM fine-tuned by GibbsNet.

Scores per seed: the exact test log-likelihood (nats per image), the chain scores of
``chain_quality.py`` (class entropy, Fréchet distance, confidence, class switch rate) after
``--steps`` Gibbs steps from noise, and the training time; the table gives mean ± std (worst
seed) over ``--seeds``.

    python benchmarks/rbm.py --seeds 5 --out runs/rbm --json rbm.json
    python benchmarks/rbm.py --sweep --pcd-lr 0.01 0.02 --pcd-epochs 50 100 200   # PCD's settings
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import gibbsnet_plugin as gn
from gibbsnet_plugin.architectures.rbm import machine_of
from gibbsnet_plugin.factory import build_model, data_shape
from gibbsnet_plugin.metrics.likelihood import mean_log_likelihood
from gibbsnet_plugin.recipe import same_resolved

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from chain_quality import chain_stats, reference  # noqa: E402

METHODS = ("pcd", "gibbsnet", "pcd+gibbsnet")
SHOWN = {"entropy": True, "fd": False, "confidence": True, "switch": True}


def recipe_for(base: Path, seed: int, overrides: list[str], init: Path | None = None) -> gn.Recipe:
    """``base`` with ``seed``, the ``--set`` overrides and, for a PCD start, ``init``."""
    sets = [f"seed={seed}", *overrides]
    if init is not None:
        sets.append(f"model.options.init={init}")
    return gn.load_recipe(base, sets)


def fit_pcd(recipe: gn.Recipe, seed: int, epochs: int, lr: float, path: Path) -> float:
    """Train scikit-learn's PCD RBM on the recipe's training split and save W, b, c to
    ``path``; returns the training time in seconds."""
    from sklearn.neural_network import BernoulliRBM  # noqa: PLC0415

    x = gn.datasets.build(recipe.data.dataset, "", train=True, **recipe.data.options).tensors[0]
    v = ((x.flatten(1) + 1) / 2).numpy()
    start = time.perf_counter()
    rbm = BernoulliRBM(n_components=int(recipe.model.z_dim), learning_rate=lr, n_iter=epochs,
                       batch_size=10, random_state=seed).fit(v)
    elapsed = time.perf_counter() - start
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, W=rbm.components_.T, b=rbm.intercept_visible_, c=rbm.intercept_hidden_)
    return elapsed


def train(recipe: gn.Recipe, out: Path) -> tuple[gn.ChainModel, float]:
    """Train ``recipe`` into ``out`` (or reuse a finished run of the same resolved recipe there);
    the model and the time."""
    timing = out / "seconds.json"
    try:
        done = timing.exists() and same_resolved(gn.load_recipe(out / gn.RECIPE_FILE), recipe)
    except gn.GibbsnetError:
        done = False
    if not done:
        start = time.perf_counter()
        gn.train(recipe, out=out, force=True)
        timing.write_text(json.dumps(time.perf_counter() - start))
    return gn.load_model(out), float(json.loads(timing.read_text()))


def scores(model: gn.ChainModel, recipe: gn.Recipe, steps: list[int], num: int, seed: int) -> dict[str, Any]:
    """The exact test log-likelihood and the chain scores at ``steps``."""
    model.eval()
    test = gn.datasets.build(recipe.data.dataset, "", train=False, **recipe.data.options)
    ref = reference(recipe.data.dataset, binarize=True)
    return {"loglik": mean_log_likelihood(machine_of(model), test),
            "chain": chain_stats(model, steps, num, seed, ref)}


def summary(values: list[float], higher: bool) -> str:
    worst = min(values) if higher else max(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {std:.3f} ({worst:.3f})"


def report(results: dict[str, dict[int, dict[str, Any]]], steps: list[int]) -> None:
    methods = [m for m in METHODS if results.get(m)]
    seeds = len(next(iter(results.values())))
    print(f"\nmean ± std (worst seed) over {seeds} seeds")
    print(f"| score | {' | '.join(methods)} |")
    print(f"|---|{'---|' * len(methods)}")
    print("| exact test log-likelihood (nats/image) ↑ | "
          + " | ".join(summary([r["loglik"] for r in results[m].values()], True) for m in methods) + " |")
    print("| training time (s) | "
          + " | ".join(summary([r["seconds"] for r in results[m].values()], False) for m in methods) + " |")
    for score, higher in SHOWN.items():
        for i, t in enumerate(steps):
            cells = [summary([r["chain"][i][score] for r in results[m].values()], higher) for m in methods]
            print(f"| {score} after {t} steps {'↑' if higher else '↓'} | {' | '.join(cells)} |")


def sweep(recipe_path: Path, seeds: int, rates: list[float], epochs: list[int], out: Path) -> None:
    """PCD alone for every learning rate and number of epochs: the exact test log-likelihood,
    mean ± std (worst seed) over ``seeds`` seeds, one row per setting."""
    print("| learning rate | epochs | exact test log-likelihood (nats/image) | time per seed (s) |")
    print("|---|---|---|---|")
    for lr in rates:
        for n in epochs:
            lls, seconds = [], []
            for seed in range(seeds):
                recipe = recipe_for(recipe_path, seed, [])
                npz = out / "sweep" / f"lr{lr}-epochs{n}" / f"seed{seed}" / "rbm.npz"
                seconds.append(fit_pcd(recipe, seed, n, lr, npz))
                test = gn.datasets.build(recipe.data.dataset, "", train=False, **recipe.data.options)
                model = build_model(recipe_for(recipe_path, seed, [], npz), data_shape(test), training=False)
                lls.append(mean_log_likelihood(machine_of(model), test))
            print(f"| {lr} | {n} | {summary(lls, True)} | {statistics.mean(seconds):.1f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", type=Path, default=HERE.parent / "recipes" / "rbm.yaml")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--steps", type=int, nargs="+", default=[1, 10, 100, 1000])
    parser.add_argument("--num", type=int, default=500, help="chains scored per run")
    parser.add_argument("--pcd-epochs", type=int, nargs="+", default=[800])
    parser.add_argument("--pcd-lr", type=float, nargs="+", default=[0.005])
    parser.add_argument("--sweep", action="store_true",
                        help="only fit PCD for every --pcd-lr and --pcd-epochs and print its exact "
                             "log-likelihood per setting")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="overrides of the recipe for the GibbsNet-trained rows (repeatable)")
    parser.add_argument("--out", type=Path, default=Path("runs/rbm"))
    parser.add_argument("--json", type=Path)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.sweep:
        sweep(args.recipe, args.seeds, args.pcd_lr, args.pcd_epochs, args.out)
        return
    if len(args.pcd_lr) != 1 or len(args.pcd_epochs) != 1:
        parser.error("give one --pcd-lr and one --pcd-epochs (several only with --sweep)")
    pcd_lr, pcd_epochs = args.pcd_lr[0], args.pcd_epochs[0]
    steps = sorted(set(args.steps))
    results: dict[str, dict[int, dict[str, Any]]] = {m: {} for m in args.methods}
    for seed in range(args.seeds):
        base = recipe_for(args.recipe, seed, args.set)
        # named by PCD's settings: a GibbsNet run started from another PCD fit is not reused
        npz = args.out / "pcd" / f"lr{pcd_lr}-epochs{pcd_epochs}" / f"seed{seed}" / "rbm.npz"
        pcd_seconds = None
        if {"pcd", "pcd+gibbsnet"} & set(args.methods):
            pcd_seconds = fit_pcd(base, seed, pcd_epochs, pcd_lr, npz)
        for method in args.methods:
            if method == "pcd":
                recipe = recipe_for(args.recipe, seed, args.set, npz)
                test = gn.datasets.build(recipe.data.dataset, "", train=False, **recipe.data.options)
                model, seconds = build_model(recipe, data_shape(test), training=False), pcd_seconds
            else:
                recipe = recipe_for(args.recipe, seed, args.set, npz if method == "pcd+gibbsnet" else None)
                model, seconds = train(recipe, args.out / method / f"seed{seed}")
                seconds += pcd_seconds if method == "pcd+gibbsnet" else 0.0
            results[method][seed] = {"seconds": seconds, **scores(model, recipe, steps, args.num, seed)}
            print(f"{method} seed {seed}: loglik {results[method][seed]['loglik']:.2f}", flush=True)
    report(results, steps)
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                         "results": results}, indent=1))


if __name__ == "__main__":
    main()
