"""Imputing real tables: GibbsNet against the imputers users pick instead, side by side.

Data: UCI Spam (4,601 × 57) and Letter (20,000 × 16) as distributed with GAIN's code
(``--uci DIR`` holding ``spam.csv`` and ``letter.csv``; download them from the UCI repository or
GAIN's repository, jsyoon0823/GAIN, ``data/``), and scikit-learn's bundled breast-cancer table
(569 × 30, with its diagnosis as a label for the downstream score).

Protocol (GAIN's): every column min-max scaled to [0, 1] over the whole table; rows split 80/20
by the seed; entries hidden in both splits by the missingness pattern; every method is fitted on
the incomplete training split and imputes the incomplete test split; RMSE over the test split's
hidden entries, in the scaled units. Patterns: ``mcar-P`` hides each entry independently with
probability P %; ``mnar-20`` hides an entry with probability 0.3 when it is above its column's
median and 0.1 otherwise (large values more often missing, 20 % overall).

Methods: the column mean, scikit-learn's ``KNNImputer`` (5 neighbours), ``IterativeImputer`` with
``BayesianRidge`` (MICE; 10 rounds) and with ``ExtraTreesRegressor`` (missForest-like; 20 trees,
5 rounds), and GibbsNet (``recipes/table.yaml``'s networks, ``train.missing`` ``chain-ambient``
and ``chain``) imputing with one chain and with the mean of K chains (``--steps``, 20, each). Scores per
method: RMSE; for the multiple imputers (GibbsNet's K chains, MICE with ``sample_posterior`` and
K transforms of one fit) the share of hidden entries inside the central 90 % interval of their K
draws; for breast cancer, the test accuracy of a logistic regression trained on the imputed
training split and applied to the imputed test split; fit and impute wall times as ratios to
MICE's measured in the same cell. Published: GAIN on Spam at 20 % MCAR, 0.0513 ± 0.0016.

``--known-mechanism CHAINS`` asks how much of a not-at-random cell's error is the missingness:
the saved GibbsNet runs impute as a model that knew the mechanism would (each hidden cell's
draws resampled by the chance that the pattern hides their values).

Each (data set, pattern, seed) runs in its own process with one thread, ``--jobs`` at once;
cells already in ``--out`` are reused (``--rescore``: their multiple imputations scored again by
the current code from the same draws). Prints Markdown tables of mean ± std (worst seed).

    python benchmarks/imputation.py --uci ../shared/data/uci --seeds 0 1 2 3 4 --jobs 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
DATA = ("cancer", "spam", "letter")
PATTERNS = ("mcar-20", "mcar-50", "mcar-80", "mnar-20")
SKLEARN = ("mean", "knn", "mice", "missforest")
GIBBSNET = ("chain-ambient", "chain")
GAIN_SPAM = "0.0513 ± 0.0016"
STEPS = 20


def load(name: str, uci: Path | None) -> tuple[np.ndarray, np.ndarray | None]:
    """The complete table ``name`` (rows, columns) as float64, and its labels (or None)."""
    if name == "cancer":
        from sklearn.datasets import load_breast_cancer

        bunch = load_breast_cancer()
        return bunch.data.astype(np.float64), bunch.target
    if uci is None:
        raise SystemExit(f"{name}: pass --uci DIR, the folder holding spam.csv and letter.csv")
    return pd.read_csv(uci / f"{name}.csv").to_numpy(dtype=np.float64), None


def hiding_chance(x: np.ndarray, pattern: str, values: np.ndarray) -> np.ndarray:
    """The chance that ``pattern`` hides each of ``values`` (any shape ending in x's columns),
    with the column medians of the whole table ``x`` (rows, columns)."""
    kind, pct = pattern.split("-")
    if kind == "mcar":
        return np.full(values.shape, int(pct) / 100)
    return np.where(values > np.median(x, axis=0), 0.3, 0.1)  # mnar: large values hidden more often


def hide(x: np.ndarray, pattern: str, rng: np.random.Generator) -> np.ndarray:
    """A mask (1 = observed) of ``pattern`` for ``x`` (rows, columns)."""
    return (rng.random(x.shape) >= hiding_chance(x, pattern, x)).astype(np.float64)


def sklearn_imputer(name: str, seed: int, posterior: bool = False) -> Any:
    from sklearn.ensemble import ExtraTreesRegressor
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer
    from sklearn.linear_model import BayesianRidge

    if name == "mean":
        return SimpleImputer(strategy="mean", keep_empty_features=True)
    if name == "knn":
        return KNNImputer(n_neighbors=5, keep_empty_features=True)
    if name == "mice":
        return IterativeImputer(BayesianRidge(), max_iter=10, random_state=seed,
                                sample_posterior=posterior, keep_empty_features=True)
    return IterativeImputer(ExtraTreesRegressor(n_estimators=20, random_state=seed, n_jobs=1),
                            max_iter=5, random_state=seed, keep_empty_features=True)


def scores(truth: np.ndarray, mask: np.ndarray, point: np.ndarray,
           draws: np.ndarray | None = None) -> dict[str, float]:
    """RMSE of ``point`` on the hidden entries; for ``draws`` (K, rows, columns) also the coverage
    of their central 50/80/90/95 % intervals there (``coverage`` is the 90 % one) and the mean
    energy score of the rows with hidden entries (over those entries; lower is better)."""
    from gibbsnet_plugin.metrics.uncertainty import central_coverage, energy_scores

    hidden = mask == 0
    out = {"rmse": float(np.sqrt(np.mean((point[hidden] - truth[hidden]) ** 2)))}
    if draws is not None:
        for level, share in central_coverage(draws[:, hidden], truth[hidden]).items():
            out[f"coverage{round(level * 100)}"] = share
        out["coverage"] = out["coverage90"]
        rows = hidden.any(axis=1)
        out["energy"] = float(energy_scores(draws[:, rows], truth[rows], hidden[rows]).mean())
    return out


def downstream(train: np.ndarray, y_train: np.ndarray, test: np.ndarray, y_test: np.ndarray) -> float:
    """Test accuracy of a standardised logistic regression trained on the imputed training split."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    return float(model.fit(train, y_train).score(test, y_test))


def cell_data(data: str, pattern: str, seed: int, uci: str | None,
              ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray, np.ndarray]:
    """One cell's table scaled to [0, 1], its labels (or None), the mask of ``pattern`` (1 =
    observed) and the training and test rows, all drawn from ``seed``."""
    x, y = load(data, Path(uci) if uci else None)
    lo, hi = x.min(axis=0), x.max(axis=0)
    x = (x - lo) / (hi - lo + 1e-6)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    n_train = int(0.8 * len(x))
    tr, te = order[:n_train], order[n_train:]
    return x, y, hide(x, pattern, rng), tr, te


def rescore_cell(work: Path, uci: str | None) -> dict[str, Any]:
    """The cell in ``work`` (a folder of ``--out``) with the RMSE, coverage and energy of its
    multiple imputations recomputed by the current code from the same draws: MICE's posterior
    draws refitted with the cell's seed, GibbsNet's chains from the run saved in the cell (the
    same seed). Its other rows are kept; the record is written back."""
    import torch

    torch.set_num_threads(1)
    import gibbsnet_plugin as gn

    record = json.loads((work / "scores.json").read_text())
    x, _, mask, tr, te = cell_data(record["data"], record["pattern"], record["seed"], uci)
    holes = np.where(mask == 1, x, np.nan)
    columns = [f"c{j}" for j in range(x.shape[1])]
    methods = record["methods"]
    chains = [n for n, row in methods.items() if "coverage" in row and not n.startswith("mice")]
    if len(chains) > 1:  # the cell keeps one run, that of the label run last
        raise SystemExit(f"{work}: GibbsNet rows of {len(chains)} labels ({', '.join(chains)}) "
                         "but one saved run; rescore each label's own --out")
    for name in [n for n, row in methods.items() if "coverage" in row]:
        k = int(name.rsplit(" ", 1)[1])  # "<method>, mean of K"
        if name.startswith("mice"):
            posterior = sklearn_imputer("mice", record["seed"], posterior=True).fit(holes[tr])
            draws = np.stack([posterior.transform(holes[te]) for _ in range(k)])
        else:
            runs = sorted(p.parent for p in work.glob("*/run.json"))
            if len(runs) != 1:
                raise SystemExit(f"{work}: {len(runs)} saved runs for '{name}'; rescoring needs one")
            result = gn.impute(gn.load_run(runs[0], "cpu"), pd.DataFrame(holes[te], columns=columns),
                               draws=k, steps=methods[name].get("steps", STEPS), seed=record["seed"])
            draws = np.stack([d.to_numpy(dtype=np.float64) for d in result.draws])
            single = name.replace(f", mean of {k}", ", one chain")
            if single in methods:
                methods[single].update(scores(x[te], mask[te], draws[0]))
        methods[name].update(scores(x[te], mask[te], draws.mean(0), draws))
    (work / "scores.json").write_text(json.dumps(record, indent=1))
    return record


def resample(drawn: np.ndarray, weights: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` draws per entry of ``drawn`` (K, *shape), each entry's own, picked with replacement
    with probabilities proportional to ``weights`` (drawn's shape)."""
    total = np.cumsum(weights, axis=0)
    picks = [np.minimum((rng.random(drawn.shape[1:]) * total[-1] > total).sum(0), len(drawn) - 1)
             for _ in range(n)]
    return np.stack([np.take_along_axis(drawn, pick[None], 0)[0] for pick in picks])


def known_mechanism_cell(work: Path, uci: str | None, chains: int, draws: int = 20) -> dict[str, Any]:
    """The saved GibbsNet run of the cell in ``work`` imputing as a model that knew the missingness
    mechanism would: ``chains`` chains per test row, and for each hidden cell ``draws`` of them
    resampled with weights ``hiding_chance`` of their values (Bayes' rule: a hidden value's law is
    the model's, reweighted by the chance that the pattern hides it), scored next to the first
    ``draws`` chains as drawn."""
    import torch

    torch.set_num_threads(1)
    import gibbsnet_plugin as gn

    record = json.loads((work / "scores.json").read_text())
    x, _, mask, _, te = cell_data(record["data"], record["pattern"], record["seed"], uci)
    runs = sorted(p.parent for p in work.glob("*/run.json"))
    if len(runs) != 1:
        raise SystemExit(f"{work}: {len(runs)} saved GibbsNet runs; --known-mechanism needs one")
    columns = [f"c{j}" for j in range(x.shape[1])]
    holes = pd.DataFrame(np.where(mask == 1, x, np.nan)[te], columns=columns)
    result = gn.impute(gn.load_run(runs[0], "cpu"), holes, draws=chains, steps=STEPS, seed=record["seed"])
    drawn = np.stack([d.to_numpy(dtype=np.float64) for d in result.draws])
    known = resample(drawn, hiding_chance(x, record["pattern"], drawn), draws,
                     np.random.default_rng(record["seed"]))
    return {"data": record["data"], "pattern": record["pattern"], "seed": record["seed"],
            "drawn": scores(x[te], mask[te], drawn[:draws].mean(0), drawn[:draws]),
            "known": scores(x[te], mask[te], known.mean(0), known)}


def known_mechanism_report(cells: list[dict[str, Any]]) -> str:
    """Markdown: per (data set, pattern), the draws as drawn and resampled by the mechanism."""
    lines = ["| table | pattern | draws | RMSE ↓ | 90 % coverage | energy ↓ |", "|---|---|---|---|---|---|"]
    for key in dict.fromkeys((c["data"], c["pattern"]) for c in cells):
        got = [c for c in cells if (c["data"], c["pattern"]) == key]
        for row, name in (("drawn", "as drawn"), ("known", "resampled by the mechanism")):
            scored = [c[row] for c in got]
            lines.append(f"| {key[0]} | {key[1]} | {name} ({len(got)} seeds) | {column(scored, 'rmse')} | "
                         f"{column(scored, 'coverage', True)} | {column(scored, 'energy')} |")
    return "\n".join(lines)


def run_cell(data: str, pattern: str, seed: int, uci: str | None, out: str, iterations: int,
             draws: int, overrides: list[str], gibbsnet: list[str],
             sklearn: list[str] = SKLEARN, baselines: str | None = None,
             label: str | None = None, steps: int = STEPS) -> dict[str, Any]:
    """Every method on one (data set, pattern, seed); the record is also written to ``out``.
    The scikit-learn rows are taken from the same cell in ``baselines`` when it has them, MICE's
    among them (they do not depend on GibbsNet's settings)."""
    import torch

    torch.set_num_threads(1)
    import gibbsnet_plugin as gn

    x, y, mask, tr, te = cell_data(data, pattern, seed, uci)
    holes = np.where(mask == 1, x, np.nan)
    record: dict[str, Any] = {"data": data, "pattern": pattern, "seed": seed, "methods": {}}
    methods = record["methods"]

    earlier = Path(baselines or "/nonexistent") / f"{data}-{pattern}-seed{seed}" / "scores.json"
    reused = json.loads(earlier.read_text())["methods"] if earlier.exists() else {}
    if "mice" in reused:  # the time baseline: without it the cell's imputers run again
        methods.update({k: v for k, v in reused.items() if not k.startswith("GibbsNet")})
    else:
        for name in ["mice", *[m for m in sklearn if m != "mice"]]:
            imputer = sklearn_imputer(name, seed)
            start = time.perf_counter()
            imputer.fit(holes[tr])
            fit_s = time.perf_counter() - start
            start = time.perf_counter()
            test = imputer.transform(holes[te])
            impute_s = time.perf_counter() - start
            methods[name] = {**scores(x[te], mask[te], test), "fit_s": fit_s, "impute_s": impute_s}
            if y is not None:
                methods[name]["accuracy"] = downstream(imputer.transform(holes[tr]), y[tr], test, y[te])
        posterior = sklearn_imputer("mice", seed, posterior=True).fit(holes[tr])
        start = time.perf_counter()
        mice_draws = np.stack([posterior.transform(holes[te]) for _ in range(draws)])
        impute_s = time.perf_counter() - start
        methods[f"mice, mean of {draws}"] = {**scores(x[te], mask[te], mice_draws.mean(0), mice_draws),
                                             "impute_s": impute_s}

    work = Path(out) / f"{data}-{pattern}-seed{seed}"
    work.mkdir(parents=True, exist_ok=True)
    columns = [f"c{j}" for j in range(x.shape[1])]
    pd.DataFrame(holes[tr], columns=columns).to_csv(work / "train.csv", index=False)
    for method in gibbsnet:
        recipe = gn.load_recipe(ROOT / "recipes" / "table.yaml", [
            f"data.options.path={work / 'train.csv'}", "data.options.categorical=[]",
            "data.options.test_fraction=0", f"train.missing={method}", f"seed={seed}",
            f"train.iterations={iterations}", f"train.checkpoint_every={iterations}",
            "train.log_every=1000", *overrides])
        start = time.perf_counter()
        run = gn.train(recipe, out=work / method, force=True)
        fit_s = time.perf_counter() - start
        loaded = gn.load_run(run, "cpu")
        start = time.perf_counter()
        result = gn.impute(loaded, pd.DataFrame(holes[te], columns=columns), draws=draws, steps=steps,
                           seed=seed)
        impute_s = time.perf_counter() - start
        samples = np.stack([d.to_numpy(dtype=np.float64) for d in result.draws])
        single_s = impute_s / draws
        name = label or f"GibbsNet {method}"
        methods[f"{name}, one chain"] = {**scores(x[te], mask[te], samples[0]),
                                                   "fit_s": fit_s, "impute_s": single_s}
        methods[f"{name}, mean of {draws}"] = {
            **scores(x[te], mask[te], samples.mean(0), samples), "fit_s": fit_s, "impute_s": impute_s,
            "steps": steps}
        if y is not None:
            train_fill = gn.impute(loaded, pd.DataFrame(holes[tr], columns=columns), draws=draws,
                                   reduce="mean", steps=steps, seed=seed).filled.to_numpy(np.float64)
            methods[f"{name}, mean of {draws}"]["accuracy"] = downstream(
                train_fill, y[tr], samples.mean(0), y[te])
    base = methods["mice"]
    for m in methods.values():
        m["fit_ratio"] = m["fit_s"] / base["fit_s"] if "fit_s" in m else float("nan")
        m["impute_ratio"] = m["impute_s"] / base["impute_s"]
    (work / "scores.json").write_text(json.dumps(record, indent=1))
    return record


def summary(values: list[float], higher: bool) -> str:
    if not values:
        return ""
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    worst = min(values) if higher else max(values)
    digits = 4 if abs(mean) < 1 else 2
    return f"{mean:.{digits}f} ± {std:.{digits}f} ({worst:.{digits}f})"


def column(got: list[dict[str, float]], key: str, higher: bool = False) -> str:
    """mean ± std (worst) of ``key`` over the seeds that have it."""
    return summary([g[key] for g in got if key in g and not np.isnan(g[key])], higher)


def ratio(got: list[dict[str, float]], key: str) -> str:
    """The mean of a time ratio over the seeds, or empty when a seed lacks it."""
    values = [g.get(key, float("nan")) for g in got]
    return "" if any(np.isnan(v) for v in values) else f"{statistics.fmean(values):.2f}"


def report(records: list[dict[str, Any]]) -> str:
    """Markdown: one table per data set, rows (pattern, method)."""
    lines = []
    for data in dict.fromkeys(r["data"] for r in records):
        rows = [r for r in records if r["data"] == data]
        seeds = sorted({r["seed"] for r in rows})
        has_acc = any("accuracy" in m for r in rows for m in r["methods"].values())
        head = ["pattern", "method", "RMSE ↓", "90 % coverage", "energy ↓",
                *(["accuracy ↑"] if has_acc else []),
                "fit time ÷ MICE", "impute time ÷ MICE"]
        lines += [f"\n{data} ({len(seeds)} seeds: mean ± std (worst seed))\n",
                  "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for pattern in dict.fromkeys(r["pattern"] for r in rows):
            cell = [r for r in rows if r["pattern"] == pattern]
            for method in cell[0]["methods"]:
                got = [r["methods"][method] for r in cell if method in r["methods"]]
                row = [pattern, method, column(got, "rmse"), column(got, "coverage", True),
                       column(got, "energy"),
                       *([column(got, "accuracy", True)] if has_acc else []),
                       ratio(got, "fit_ratio"), ratio(got, "impute_ratio")]
                lines.append("| " + " | ".join(row) + " |")
            if data == "spam" and pattern == "mcar-20":
                lines.append(f"| mcar-20 | GAIN (published) | {GAIN_SPAM} | | | | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uci", default=None, help="folder with spam.csv and letter.csv")
    parser.add_argument("--data", nargs="+", default=list(DATA), choices=DATA)
    parser.add_argument("--patterns", nargs="+", default=list(PATTERNS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--iterations", type=int, default=2000, help="GibbsNet's training iterations")
    parser.add_argument("--draws", type=int, default=20, help="K: chains (and MICE draws) per row")
    parser.add_argument("--steps", type=int, default=STEPS, help="GibbsNet's chain steps per draw")
    parser.add_argument("--gibbsnet", nargs="+", default=list(GIBBSNET), choices=GIBBSNET,
                        help="train.missing methods of the GibbsNet rows")
    parser.add_argument("--sklearn", nargs="+", default=list(SKLEARN), choices=SKLEARN,
                        help="the scikit-learn imputers to run (MICE always runs: the time baseline)")
    parser.add_argument("--baselines-from", default=None, metavar="DIR",
                        help="take the scikit-learn rows of each cell from an earlier --out")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override recipes/table.yaml for the GibbsNet rows (repeatable)")
    parser.add_argument("--label", default=None,
                        help="name of the GibbsNet rows (default 'GibbsNet <train.missing>'), e.g. "
                             "for a run with --set")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--out", default="runs/imputation")
    parser.add_argument("--json", default=None, help="also write every cell's scores to this file")
    parser.add_argument("--report", action="store_true",
                        help="only print the tables of the cells already in --out (run nothing)")
    parser.add_argument("--known-mechanism", type=int, default=None, metavar="CHAINS",
                        help="score the saved GibbsNet run of each cell already in --out as if it "
                             "knew the missingness mechanism: CHAINS chains per row, --draws of "
                             "them resampled per hidden cell by the chance the pattern hides their "
                             "value (trains nothing)")
    parser.add_argument("--rescore", action="store_true",
                        help="recompute the scores of the multiple imputations of the cells already "
                             "in --out from the same draws (after a change of the scores)")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    cells = [(d, p, s) for d in args.data for p in args.patterns for s in args.seeds]
    records, todo = [], []
    for d, p, s in cells:
        path = Path(args.out) / f"{d}-{p}-seed{s}" / "scores.json"
        if path.exists():
            records.append(json.loads(path.read_text()))
        elif not args.report:
            todo.append((d, p, s))
    if args.known_mechanism:
        if todo or not records:
            missing = ", ".join(f"{d}-{p}-seed{s}" for d, p, s in todo) or "every cell"
            raise SystemExit(f"--known-mechanism scores cells already in {args.out}; not there: "
                             f"{missing} (run them first, without --known-mechanism)")
        work = [Path(args.out) / f"{r['data']}-{r['pattern']}-seed{r['seed']}" for r in records]
        with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
            cells = list(pool.map(known_mechanism_cell, work, [args.uci] * len(work),
                                  [args.known_mechanism] * len(work), [args.draws] * len(work)))
        print(known_mechanism_report(cells))
        return
    if args.rescore:
        with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
            work = [Path(args.out) / f"{r['data']}-{r['pattern']}-seed{r['seed']}" for r in records]
            records = list(pool.map(rescore_cell, work, [args.uci] * len(work)))
        todo = []
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(run_cell, d, p, s, args.uci, args.out, args.iterations, args.draws,
                               args.overrides, args.gibbsnet, args.sklearn, args.baselines_from,
                               args.label, args.steps)
                   for d, p, s in todo]
        for future in futures:
            record = future.result()
            records.append(record)
            print(f"done {record['data']} {record['pattern']} seed {record['seed']}", flush=True)
    records.sort(key=lambda r: (DATA.index(r["data"]), PATTERNS.index(r["pattern"]), r["seed"]))
    if args.json:
        Path(args.json).write_text(json.dumps(records, indent=1))
    print(report(records))


if __name__ == "__main__":
    main()
