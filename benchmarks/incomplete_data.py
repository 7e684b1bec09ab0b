"""Learning digits from incomplete and corrupted data: clean-data oracle, zero-fill, ambient, chain
and chain-ambient (``train.missing``), and for a corruption training on y directly against
matching f.

Settings: 50 % and 80 % of the pixels missing at random (``random-50``, ``random-80``), only a
random 4×4 window observed (``window-4``), and blur + noise (``blur`` with sigma 1 and noise 0.1).
Every method trains the same networks (``--architecture``, default ``mlp``) for the same
iterations, on each seed. Scores, each on the test split:

- ``fd``: Fréchet distance between unclamped-chain samples (the recipe's chain_steps) and the test
  digits in the hidden features of an MLP classifier trained on clean digits (as
  ``chain_quality.py``; lower is better);
- ``rmse``: imputation RMSE on the missing entries of test digits under the setting's mask process
  (20 partially clamped chain steps; the same masks for every method), or for blur + noise the
  RMSE of the restoration dec(enc(y)) against the clean digit; in the data's units ([-1, 1]);
  a row without a model gives the RMSE of imputing each pixel's training mean (or of y itself);
- ``rmse10``: the same with the mean of 10 independent chains as the imputation (an estimate of
  the conditional mean, which RMSE favours over a single draw; for blur + noise, of 10 encodings);
- ``probe``: linear-probe test error (%) on the features of what a user has: incomplete digits
  filled by the chain (``metrics.probe``), measurements y for the direct baseline, clean digits
  (the oracle) or f(x) (matching, whose encoder reads measurements).

Each (setting, method, seed) trains in its own process with one thread, ``--jobs`` at once; runs
already scored in ``--out`` are reused. Prints a Markdown table of mean ± std (worst seed) and
writes ``--figure``: for each setting, the same test digits as observed (missing pixels red), as
imputed or restored by each method (the first seed) and the truth.

``--set KEY=VALUE`` trains every run with an override of the recipe (a training lever; give it
its own ``--out``), ``--methods`` trains only the methods named (the oracle too, when named).

    python benchmarks/incomplete_data.py --seeds 0 1 2 --jobs 2 --out runs/incomplete
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from chain_quality import Reference, chain_stats, reference  # noqa: E402

SETTINGS = {
    "random-50": {"data.missing": "random-50"},
    "random-80": {"data.missing": "random-80"},
    "window-4": {"data.missing": "window-4"},
    "blur+noise": {"data.corruption": {"name": "blur", "options": {"sigma": 1.0, "noise": 0.1}}},
}
MISSING_METHODS = ("zero-fill", "ambient", "chain", "chain-ambient")
CORRUPTION_METHODS = ("direct", "match")
SCORES = ("fd", "rmse", "rmse10", "probe")
FILL_STEPS = 20
MASK_SEED = 0
"""Seed of the test split's masks and measurements: one held-out task for every method and seed."""


def configs(settings: list[str], methods: list[str] | None = None) -> list[tuple[str, str]]:
    """Every (setting, method) pair of ``settings``, the oracle first (setting ``clean``); only
    the ``methods`` named, when given."""
    rows = [("clean", "oracle")]
    for setting in settings:
        overrides = SETTINGS[setting]
        rows += [(setting, method) for method in (CORRUPTION_METHODS if "data.corruption" in overrides
                                                  else MISSING_METHODS)]
    return [row for row in rows if methods is None or row[1] in methods]


def recipe_for(setting: str, method: str, seed: int, args: argparse.Namespace) -> Any:
    from gibbsnet_plugin.recipe import load_recipe

    recipe = load_recipe(ROOT / "recipes" / "digits.yaml", [
        f"name=incomplete-{setting}-{method}-{seed}", f"seed={seed}",
        f"model.architecture={args.architecture}", f"train.iterations={args.iterations}",
        "train.sample_every=0", f"train.checkpoint_every={args.iterations}", *args.overrides])
    if setting == "clean":
        return recipe
    overrides = SETTINGS[setting]
    if "data.missing" in overrides:
        recipe.data.missing = overrides["data.missing"]
        recipe.train.missing = method  # type: ignore[assignment]
    else:
        recipe.data.corruption.name = overrides["data.corruption"]["name"]
        recipe.data.corruption.options = dict(overrides["data.corruption"]["options"])
        recipe.train.corruption = method  # type: ignore[assignment]
    return recipe


def corruption_of(setting: str, x_shape: tuple[int, ...]) -> Any:
    import gibbsnet_plugin.corruptions as corruptions

    spec = SETTINGS[setting]["data.corruption"]
    return corruptions.build(spec["name"], x_shape, **spec["options"])


@functools.cache
def judges() -> Reference:
    """``chain_quality.reference()``: the classifiers that score samples, built once per process."""
    return reference()


def score(model: Any, setting: str, method: str, seed: int, scored: str) -> dict[str, float]:
    """fd, rmse and probe of one trained model for one setting (see the module docstring)."""

    import gibbsnet_plugin as gn
    from gibbsnet_plugin.data.missing import Corrupted, Masked
    from gibbsnet_plugin.metrics.probe import linear_probe
    from gibbsnet_plugin.metrics.scores import imputation_rmse, restoration_rmse

    train = gn.datasets.build("digits", "", train=True)
    test = gn.datasets.build("digits", "", train=False)
    x_shape = model.x_shape
    fd = chain_stats(model, [model.chain_steps], 1000, seed, judges())[0]["fd"]
    if scored in SETTINGS and "data.missing" in SETTINGS[scored]:
        process = SETTINGS[scored]["data.missing"]
        masked = Masked(test, process, x_shape, MASK_SEED, train=False, hide=False)
        rmse = imputation_rmse(model, masked, FILL_STEPS, seed=seed)
        rmse10 = imputation_rmse(model, masked, FILL_STEPS, seed=seed, draws=10)
        probe_train = Masked(train, process, x_shape, MASK_SEED, train=True, hide=False)
        probe_test = Masked(test, process, x_shape, MASK_SEED, train=False, hide=False)
    else:
        f = corruption_of(scored, x_shape)
        rmse = restoration_rmse(model, test, f, seed=seed)
        rmse10 = restoration_rmse(model, test, f, seed=seed, draws=10)
        probe_train, probe_test = train, test
        if method == "direct":
            probe_train = Corrupted(train, f, MASK_SEED, train=True)
            probe_test = Corrupted(test, f, MASK_SEED, train=False)
    probe = linear_probe(model, probe_train, probe_test, labels=1000, draws=3, seed=seed)
    return {"fd": fd, "rmse": rmse, "rmse10": rmse10, "probe": 100 * probe["error_mean"]}


def trained_iterations(out: Path) -> int:
    """Iterations in ``out``'s last checkpoint (0 without one)."""
    last = out / "checkpoints" / "last.pt"
    if not last.exists():
        return 0
    return int(torch.load(last, map_location="cpu", weights_only=True)["trainer"]["iteration"])


def run_one(setting: str, method: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """Train (unless already trained) and score one (setting, method, seed) with one thread."""
    torch.set_num_threads(1)
    import logging

    import gibbsnet_plugin as gn

    logging.getLogger("ignite").setLevel(logging.WARNING)
    out = Path(args.out) / f"{setting}-{method}" / f"seed{seed}"
    result_file = out / "scores.json"
    targets = list(args.settings) if setting == "clean" else [setting]
    scores: dict[str, dict[str, float]] = {}
    if trained_iterations(out) != args.iterations:
        gn.train(recipe_for(setting, method, seed, args), out=out, force=True)
    elif result_file.exists():
        saved = json.loads(result_file.read_text())["scores"]
        scores = {t: s for t, s in saved.items() if set(SCORES) <= set(s)}
    run = {"setting": setting, "method": method, "seed": seed}
    missing = [t for t in targets if t not in scores]
    if missing:  # the oracle, scored for fewer settings before, is scored for the new ones only
        model = gn.load_model(out, device="cpu")
        scores.update({t: score(model, t, method, seed, t) for t in missing})
        result_file.write_text(json.dumps({**run, "scores": scores}))
    return {**run, "scores": {t: scores[t] for t in targets}}


def reference_rmse(setting: str) -> float:
    """The RMSE of no model: each missing pixel imputed by its mean over the training split, or
    for a corruption the measurement y itself taken as the restoration."""
    import gibbsnet_plugin as gn
    from gibbsnet_plugin.data.missing import Masked

    train = gn.datasets.build("digits", "", train=True)
    test = gn.datasets.build("digits", "", train=False)
    x = torch.stack([test[i][0] for i in range(len(test))])
    if "data.missing" in SETTINGS[setting]:
        masks = Masked(test, SETTINGS[setting]["data.missing"], tuple(x.shape[1:]), MASK_SEED,
                       train=False, hide=False)
        mask = torch.stack([masks.mask(i) for i in range(len(test))])
        mean = torch.stack([train[i][0] for i in range(len(train))]).mean(0)
        return (mean.expand_as(x) - x)[mask == 0].pow(2).mean().sqrt().item()
    with torch.random.fork_rng():
        torch.manual_seed(MASK_SEED)
        y = corruption_of(setting, tuple(x.shape[1:]))(x)
    return (y - x).pow(2).mean().sqrt().item()


def table(results: list[dict[str, Any]]) -> str:
    """Markdown: one row per (setting, method), ``mean ± std (worst)`` over the seeds, and a row
    with ``reference_rmse``."""
    lines = ["| setting | method | FD ↓ | imputation RMSE ↓ | RMSE, mean of 10 ↓ | probe error % ↓ |",
             "|---|---|---|---|---|---|"]
    for setting in dict.fromkeys(s for r in results for s in r["scores"]):
        no_model = "per-pixel mean" if "data.missing" in SETTINGS[setting] else "y itself"
        lines.append(f"| {setting} | *{no_model}* | | {reference_rmse(setting):.3f} | | |")
        methods = ["oracle", *(CORRUPTION_METHODS if "data.corruption" in SETTINGS[setting]
                               else MISSING_METHODS)]
        for method in methods:
            runs = [r for r in results if r["method"] == method
                    and (r["setting"] == setting or method == "oracle")]
            if not runs:
                continue
            cells = []
            for name in SCORES:
                values = [r["scores"][setting][name] for r in runs]
                std = statistics.stdev(values) if len(values) > 1 else 0.0
                digits = 3 if name.startswith("rmse") else 1
                cells.append(f"{statistics.mean(values):.{digits}f} ± {std:.{digits}f} "
                             f"({max(values):.{digits}f})")
            lines.append(f"| {setting} | {method} | {' | '.join(cells)} |")
    return "\n".join(lines)


def figure(args: argparse.Namespace, path: Path, n: int = 8) -> None:
    """One panel per setting, one row per method: ``n`` test digits as observed (missing pixels
    red), as imputed or restored by each method (seed ``args.seeds[0]``), and the truth."""
    from matplotlib.figure import Figure
    from torchvision.utils import make_grid

    import gibbsnet_plugin as gn
    from gibbsnet_plugin.data.missing import Masked

    seed = args.seeds[0]
    test = gn.datasets.build("digits", "", train=False)
    x = torch.stack([test[i][0] for i in range(n)])
    rgb = lambda t: ((t.clamp(-1, 1) + 1) / 2).repeat(1, 3, 1, 1)  # noqa: E731
    panels = []
    for setting in args.settings:
        shape = tuple(x.shape[1:])
        if "data.missing" in SETTINGS[setting]:
            masks = Masked(test, SETTINGS[setting]["data.missing"], shape, MASK_SEED,
                           train=False, hide=False)
            mask = torch.stack([masks.mask(i) for i in range(n)])
            observed = rgb(torch.where(mask != 0, x, torch.zeros_like(x)))
            observed[:, 0][mask[:, 0] == 0] = 1.0
            observed[:, 1:][mask[:, :1].expand(-1, 2, -1, -1) == 0] = 0.0
            fill = lambda model, mask=mask: model.inpaint(x, mask, FILL_STEPS)  # noqa: E731
            methods = MISSING_METHODS
        else:
            with torch.random.fork_rng():
                torch.manual_seed(MASK_SEED)
                y = corruption_of(setting, shape)(x)
            observed = rgb(y)
            fill = lambda model, y=y: model.decoder(model.encoder(y))  # noqa: E731
            methods = CORRUPTION_METHODS
        rows, labels = [observed], ["observed"]
        for method in (*methods, "oracle"):
            name = "clean-oracle" if method == "oracle" else f"{setting}-{method}"
            model = gn.load_model(Path(args.out) / name / f"seed{seed}", device="cpu")
            torch.manual_seed(seed)
            with torch.no_grad():
                rows.append(rgb(fill(model)))
            labels.append(method)
        rows.append(rgb(x))
        labels.append("truth")
        panels.append((setting, make_grid(torch.cat(rows), nrow=n, padding=1, pad_value=0.5), labels))
    fig = Figure(figsize=(3.2 * len(panels), 3.2), layout="constrained")
    for ax, (setting, grid, labels) in zip(fig.subplots(1, len(panels)), panels, strict=True):
        ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
        ax.set_title(setting, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([1 + 9 * i + 4 for i in range(len(labels))], labels, fontsize=8)
        ax.tick_params(length=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--iterations", type=int, default=2500)
    parser.add_argument("--architecture", default="mlp")
    parser.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=list(SETTINGS))
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default="runs/incomplete")
    parser.add_argument("--methods", nargs="+", default=None,
                        choices=["oracle", *MISSING_METHODS, *CORRUPTION_METHODS],
                        help="train only these methods (default: all)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override recipes/digits.yaml for every run (repeatable), e.g. a "
                             "training lever; give such runs their own --out")
    parser.add_argument("--figure", default=None, help="PNG of imputations (default: none)")
    args = parser.parse_args()
    if args.figure and args.methods:
        parser.error("--figure shows every method: leave out --methods")
    work = [(s, m, seed) for seed in args.seeds for s, m in configs(args.settings, args.methods)]
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(run_one, s, m, seed, args) for s, m, seed in work]
        results = []
        for (s, m, seed), future in zip(work, futures, strict=True):
            results.append(future.result())
            print(f"done {s} {m} seed {seed}: {json.dumps(results[-1]['scores'])}", flush=True)
    Path(args.out, "results.json").write_text(json.dumps(results, indent=1))
    print(table(results))
    if args.figure:
        figure(args, Path(args.figure))


if __name__ == "__main__":
    main()
