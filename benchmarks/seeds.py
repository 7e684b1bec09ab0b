"""Sample quality as a distribution over training runs: K seeds per variant, mean ± std and worst.

Trains every (variant, seed) of a recipe in its own process (``gibbsnet train``), alternating the
CPU thread count over the seeds (``--threads 1 2``: seed 0 with 1 thread, seed 1 with 2, ...), as
many at once as the cores allow; then scores each run's unclamped chain at ``--steps`` and prints,
per score and chain length, ``mean ± std (worst)`` over the seeds for each variant side by side.

Scores: on digits and mnist5k those of ``chain_quality.py`` (normalised class entropy,
confidence, nn ratio, Fréchet distance, precision and recall in a classifier's features, the class
switch rate per step, D's held-out AUC, the label retention of reconstruction and the label
recovery of right-half inpainting); on 2-D
mixtures (``grid25``, ``ring8``) the PacGAN/VEEGAN ones (modes covered, share of high-quality
samples, reverse KL over modes).

``--metrics reconstruction inpainting probe`` also runs those ``gibbsnet evaluate`` metrics on each
run (seeded, test split) and reports their scores the same way.

``--independent P`` scores the discriminator-corrected chain (``chain_quality.py --independent``)
and adds its acceptance rate per step; it is a test-time option, so existing runs are scored
again, not retrained.

Runs that already exist in ``--out`` with the same resolved recipe are scored, not retrained, so
an interrupted benchmark continues where it stopped; ``--first`` runs only the later seeds (a study
extended on another machine).

    python benchmarks/seeds.py recipes/digits.yaml --seeds 5 --threads 1 2 \\
        --variant gibbsnet --variant ali model.chain_steps=1 --steps 1 10 100 1000 5000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

import gibbsnet_plugin as gn
from gibbsnet_plugin.calibration import calibrate_batchnorm
from gibbsnet_plugin.checkpoint import load_model_and_recipe
from gibbsnet_plugin.evaluation import evaluate_model
from gibbsnet_plugin.metrics import lower_is_better
from gibbsnet_plugin.recipe import same_resolved

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from chain_quality import (  # noqa: E402
    DIAGNOSTICS,
    HIGHER_IS_BETTER,
    SAMPLERS,
    acceptance_cell,
    chain_states,
    chain_stats,
    recovery,
    reference,
    retention,
)

MODE_SCORES = {"modes": True, "modes_high_quality": True, "modes_reverse_kl": False}


@dataclass
class Job:
    """One training or scoring process: its command, thread count and log."""

    argv: list[str]
    threads: int
    log: Path
    done: Callable[[], None] = lambda: None
    """Called when the process has exited with status 0."""


def run_jobs(jobs: list[Job], cores: int) -> None:
    """Run ``jobs`` with at most ``cores`` threads busy at once; raise if any fails."""
    waiting, running, failed = list(jobs), [], []
    while waiting or running:
        busy = sum(job.threads for job, _ in running)
        while waiting:
            fits = [j for j in waiting if busy + j.threads <= cores]
            if running and not fits:
                break
            job = fits[0] if fits else waiting[0]
            waiting.remove(job)
            job.log.parent.mkdir(parents=True, exist_ok=True)
            env = {**os.environ, "OMP_NUM_THREADS": str(job.threads)}
            with job.log.open("w") as log:
                running.append((job, subprocess.Popen(job.argv, stdout=log, stderr=subprocess.STDOUT,
                                                      env=env)))
            busy += job.threads
            print(f"started: {' '.join(job.argv[-6:])} ({job.threads} thread(s))", file=sys.stderr)
        time.sleep(0.5)
        for entry in list(running):
            job, proc = entry
            if proc.poll() is not None:
                running.remove(entry)
                if proc.returncode:
                    failed.append(f"{job.log} (exit {proc.returncode})")
                else:
                    job.done()
    if failed:
        raise SystemExit("failed: " + "; ".join(failed))


def is_trained(run: Path, recipe: gn.Recipe, threads: int) -> bool:
    """True when ``run`` finished training ``recipe`` with ``threads`` CPU threads (same resolved
    recipe, all iterations)."""
    try:
        same = same_resolved(gn.load_recipe(run / "recipe.yaml"), recipe)
        record = json.loads((run / "bench.json").read_text())
        done = record == {"threads": threads, "iterations": recipe.train.iterations}
    except (gn.GibbsnetError, OSError, KeyError, ValueError):
        return False
    return same and done and (run / "checkpoints" / "last.pt").exists()


def recipe_reference(recipe: gn.Recipe) -> Any:
    """``chain_quality.reference`` for the recipe's data set, binarised when the recipe's is."""
    return reference(recipe.data.dataset, binarize=recipe.data.options.get("binarize", False))


@dataclass(frozen=True)
class Scoring:
    """How every run is scored: the chain lengths ``steps``, ``num`` chains, ``gibbsnet
    evaluate``'s ``metrics``; ``calibrate`` re-measures the batch-norm statistics over that many
    chain steps first (of ``calibrate_chains`` chains, default the recipe's; ``calibrate_trained``:
    the trained steps over several batches, as the end of training does; ``calibrate_seed``:
    default the recipe's seed); ``sampler``: ``eval`` or ``batch`` (see
    ``chain_quality.SAMPLERS``); ``independent``: the chain scored is corrected by D with that
    probability per step (``restart``: its control, every proposal accepted)."""

    steps: tuple[int, ...]
    num: int
    metrics: tuple[str, ...] = ()
    calibrate: int | None = None
    calibrate_chains: int | None = None
    calibrate_trained: bool = False
    calibrate_seed: int | None = None
    sampler: str = "eval"
    independent: float = 0.0
    restart: bool = False

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Scoring:
        return cls(tuple(sorted(args.steps)), args.num, tuple(args.metrics), args.calibrate,
                   args.calibrate_chains, args.calibrate_trained, args.calibrate_seed, args.sampler,
                   args.independent, args.restart)

    def problems(self) -> list[str]:
        """What is wrong with these settings, as command-line errors."""
        wrong = []
        if not 0.0 <= self.independent <= 1.0:
            wrong.append(f"--independent {self.independent}: expected a probability between 0 and 1")
        if self.restart and not self.independent:
            wrong.append("--restart is the control of --independent P: give both")
        calibration = {"--calibrate-chains": self.calibrate_chains is not None,
                       "--calibrate-seed": self.calibrate_seed is not None,
                       "--calibrate-trained": self.calibrate_trained}
        if self.calibrate is None:
            wrong += [f"{flag} goes with --calibrate STEPS: give both"
                      for flag, given in calibration.items() if given]
        return wrong

    def argv(self) -> list[str]:
        """The flags that make a scoring process score alike (``--steps`` and ``--num`` too)."""
        flags = ["--num", str(self.num), "--steps", *map(str, self.steps)]
        flags += ["--metrics", *self.metrics] if self.metrics else []
        if self.calibrate is not None:
            flags += ["--calibrate", str(self.calibrate)]
            flags += [] if self.calibrate_chains is None else ["--calibrate-chains",
                                                              str(self.calibrate_chains)]
            flags += ["--calibrate-trained"] if self.calibrate_trained else []
            flags += [] if self.calibrate_seed is None else ["--calibrate-seed",
                                                            str(self.calibrate_seed)]
        flags += [] if self.sampler == "eval" else ["--sampler", self.sampler]
        flags += ["--independent", repr(self.independent)] if self.independent else []
        return flags + (["--restart"] if self.restart else [])

    def suffix(self) -> str:
        """What ends the name of a run's score log: ``-cal1000x200ts3-batch-independent0.5``."""
        suffix = ""
        if self.calibrate is not None:
            suffix = f"-cal{self.calibrate}"
            suffix += "" if self.calibrate_chains is None else f"x{self.calibrate_chains}"
            suffix += "t" if self.calibrate_trained else ""
            suffix += "" if self.calibrate_seed is None else f"s{self.calibrate_seed}"
        suffix += "" if self.sampler == "eval" else f"-{self.sampler}"
        suffix += f"-independent{self.independent:g}" if self.independent else ""
        return suffix + ("-restart" if self.restart else "")

    def key(self, run: Path) -> dict[str, Any]:
        """What a run's scores depend on: its last checkpoint (by modification time) and the
        settings that differ from their defaults."""
        mtime = (run / "checkpoints" / "last.pt").stat().st_mtime_ns
        key = {"checkpoint_mtime_ns": mtime, "steps": list(self.steps), "num": self.num,
               "metrics": list(self.metrics)}
        optional = {"calibrate": self.calibrate, "calibrate_chains": self.calibrate_chains,
                    "calibrate_trained": self.calibrate_trained or None,
                    "calibrate_seed": self.calibrate_seed, "independent": self.independent or None,
                    "restart": self.restart or None,
                    "sampler": None if self.sampler == "eval" else self.sampler}
        return {**key, **{k: v for k, v in optional.items() if v is not None}}


def score_run(run: str, scoring: Scoring, seed: int) -> dict[str, Any]:
    """``{"key": scoring.key, "chain": one row of chain scores per step, "eval": evaluate's
    scores of the metrics}`` of the run in ``run``, scored as ``scoring`` says."""
    model, recipe, _ = load_model_and_recipe(run, device="cpu")
    if scoring.calibrate is not None:
        calibrate_batchnorm(model, scoring.calibrate_chains or recipe.train.calibration_chains,
                            scoring.calibrate,
                            recipe.seed if scoring.calibrate_seed is None else scoring.calibrate_seed,
                            trained=model.trained_steps if scoring.calibrate_trained else 0)
    metrics = list(scoring.metrics)
    scores = evaluate_model(model, recipe, metrics, seed=seed)["scores"] if metrics else {}
    if recipe.data.dataset in ("digits", "mnist5k"):
        ref = recipe_reference(recipe)
        scores["retention"] = retention(model, ref, seed)
        scores["recovery"] = recovery(model, ref, seed=seed)
    return {"key": scoring.key(Path(run)), "chain": chain_scores(model, recipe, scoring, seed),
            "eval": scores}


def cached_scores(log: Path, key: dict[str, Any]) -> dict[str, Any] | None:
    """The scores in ``log`` when they were made with ``key``, else None."""
    try:
        scores = json.loads(log.read_text().splitlines()[-1])
    except (OSError, ValueError, IndexError):
        return None
    return scores if isinstance(scores, dict) and scores.get("key") == key else None


def chain_scores(model: gn.GibbsNet, recipe: gn.Recipe, scoring: Scoring,
                 seed: int) -> list[dict[str, float]]:
    """The chain scores of one model at each of ``scoring.steps`` (see the module docstring) of
    the chain ``scoring`` names."""
    steps, num = list(scoring.steps), scoring.num
    independent, restart = scoring.independent, scoring.restart
    data = gn.datasets.build(recipe.data.dataset, recipe.data.root, train=True, **recipe.data.options)
    if hasattr(data, "centres"):
        from gibbsnet_plugin.metrics.modes import mode_scores

        torch.manual_seed(seed)
        steps = sorted(set(steps))
        states, acceptance = chain_states(model.eval(), num, steps, independent, restart)
        corrected = {t: {"acceptance": acceptance_cell(acceptance[t])} if independent else {}
                     for t in steps}
        return [{"step": t, **mode_scores(states[:, i], data.centres, data.std), **corrected[t]}
                for i, t in enumerate(steps)]
    return chain_stats(model, steps, num, seed, recipe_reference(recipe), scoring.sampler,
                       independent, restart)


def directions(rows: list[dict[str, float]]) -> dict[str, bool]:
    scores = {**HIGHER_IS_BETTER, **DIAGNOSTICS, **MODE_SCORES}
    return {k: scores[k] for k in rows[0] if k in scores}


def seeds_text(count: int) -> str:
    """``"1 seed"`` or ``"K seeds"``."""
    return f"{count} seed{'s' if count != 1 else ''}"


def summary(values: list[float | None], higher: bool) -> str:
    """``mean ± std (worst)`` of one score over the seeds; ``-`` where a seed has none (the
    acceptance rate at step 1, where no proposal is made)."""
    if any(v is None for v in values):
        return "-"
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    worst = min(values) if higher else max(values)
    return f"{mean:.3f} ± {std:.3f} ({worst:.3f})"


def report(results: dict[str, dict[int, dict[str, Any]]]) -> None:
    """Print one table per chain score (rows = chain lengths) and one of evaluate's scores (rows =
    scores), columns = variants."""
    variants = list(results)
    first = next(iter(results[variants[0]].values()))
    seeds = seeds_text(len(results[variants[0]]))
    for score, higher in directions(first["chain"]).items():
        print(f"\n{score} ({'higher' if higher else 'lower'} is better): mean ± std (worst seed) "
              f"over {seeds}")
        print(f"| steps | {' | '.join(variants)} |")
        print(f"|---:|{'---|' * len(variants)}")
        for i, row in enumerate(first["chain"]):
            cells = [summary([r["chain"][i][score] for r in results[v].values()], higher)
                     for v in variants]
            print(f"| {row['step']} | {' | '.join(cells)} |")
    if first["eval"]:
        print(f"\nevaluate's scores: mean ± std (worst seed) over {seeds}")
        print(f"| score | {' | '.join(variants)} |")
        print(f"|---|{'---|' * len(variants)}")
        names = dict.fromkeys(k for v in variants for r in results[v].values() for k in r["eval"])
        for score in names:  # a variant without a score (e.g. a one-layer model's z2) shows "-"
            higher = score in ("retention", "recovery") or not lower_is_better(score)
            cells = [summary([r["eval"][score] for r in results[v].values()], higher)
                     if all(score in r["eval"] for r in results[v].values()) else "-"
                     for v in variants]
            print(f"| {score} | {' | '.join(cells)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe")
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..K-1 (default 5)")
    parser.add_argument("--first", type=int, default=0, metavar="SEED",
                        help="run seeds SEED..K-1 only (default 0): extends a study whose earlier "
                             "seeds were run elsewhere")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                        help="thread counts, alternated over the seeds (default 1 2)")
    parser.add_argument("--variant", nargs="+", action="append", metavar=("NAME", "KEY=VALUE"),
                        help="a variant: a name and its --set overrides (default: the recipe as is)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="overrides for every variant")
    parser.add_argument("--steps", type=int, nargs="+", default=[1, 10, 100, 1000, 5000])
    parser.add_argument("--num", type=int, default=500, help="chains scored per run (default 500)")
    parser.add_argument("--out", default=None, help="run directories (default runs/seeds/<recipe>)")
    parser.add_argument("--metrics", nargs="+", default=[], metavar="METRIC",
                        help="gibbsnet evaluate metrics to run on each run too (e.g. probe)")
    parser.add_argument("--calibrate", type=int, default=None, metavar="STEPS",
                        help="re-measure batch-norm statistics over STEPS chain steps before scoring "
                             "(the weights do not change: tests train.calibration_steps without "
                             "retraining); scores go to score-*-calSTEPS.json")
    parser.add_argument("--calibrate-chains", type=int, default=None, metavar="CHAINS",
                        help="with --calibrate: over this many chains (default: the recipe's "
                             "train.calibration_chains); scores go to score-*-calSTEPSxCHAINS.json")
    parser.add_argument("--calibrate-seed", type=int, default=None, metavar="SEED",
                        help="with --calibrate: the calibration's seed (default: the recipe's)")
    parser.add_argument("--calibrate-trained", action="store_true",
                        help="with --calibrate: measure the trained steps over several batches of "
                             "chains, as the end of training does (default: one batch each)")
    parser.add_argument("--sampler", choices=SAMPLERS, default="eval",
                        help="score eval-mode chains (stored statistics) or chains run with batch "
                             "statistics; scores go to score-*-batch.json")
    parser.add_argument("--independent", type=float, default=0.0, metavar="P",
                        help="score the chain corrected by D (chain_quality.py --independent): "
                             "existing runs are scored, not retrained; scores go to "
                             "score-*-independentP.json")
    parser.add_argument("--restart", action="store_true",
                        help="with --independent: its control without D, every proposal accepted "
                             "(scores go to score-*-independentP-restart.json)")
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", default=None, help="also write every run's scores to this file")
    parser.add_argument("--score", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not 0 <= args.first < args.seeds:
        parser.error(f"--first {args.first} runs no seed of --seeds {args.seeds}: "
                     f"give a first seed from 0 to {args.seeds - 1}")
    scoring = Scoring.from_args(args)
    for problem in scoring.problems():
        parser.error(problem)
    if args.score:
        print(json.dumps(score_run(args.score, scoring, 0)))
        return

    variants = args.variant or [["recipe"]]
    out = Path(args.out or Path("runs") / "seeds" / Path(args.recipe).stem)
    runs: dict[tuple[str, int], Path] = {}
    train_jobs = []
    for name, *sets in variants:
        for seed in range(args.first, args.seeds):
            overrides = [*args.overrides, *sets, f"seed={seed}"]
            recipe = gn.load_recipe(args.recipe, overrides=overrides)
            run = out / name / f"seed{seed}"
            runs[name, seed] = run
            threads = args.threads[seed % len(args.threads)]
            if is_trained(run, recipe, threads):
                continue
            argv = [sys.executable, "-m", "gibbsnet_cli.main", "train", args.recipe, "--out", str(run),
                    "--force", *[a for o in overrides for a in ("--set", o)]]
            record = json.dumps({"threads": threads, "iterations": recipe.train.iterations})
            train_jobs.append(Job(argv, threads, out / "logs" / f"train-{name}-{seed}.log",
                                  lambda run=run, record=record: (run / "bench.json").write_text(record)))
    start = time.perf_counter()
    run_jobs(train_jobs, args.cores)
    print(f"trained {len(train_jobs)} run(s) in {time.perf_counter() - start:.0f} s", file=sys.stderr)

    logs = {(name, seed): out / "logs" / f"score-{name}-{seed}{scoring.suffix()}.json"
            for name, seed in runs}
    score_jobs = [Job([sys.executable, __file__, args.recipe, "--score", str(run), *scoring.argv()],
                      1, logs[name, seed])
                  for (name, seed), run in runs.items()
                  if cached_scores(logs[name, seed], scoring.key(run)) is None]
    run_jobs(score_jobs, args.cores)
    print(f"scored {len(score_jobs)} run(s), {len(runs) - len(score_jobs)} from earlier scores",
          file=sys.stderr)
    results: dict[str, dict[int, dict[str, Any]]] = {}
    for (name, seed), log in logs.items():
        results.setdefault(name, {})[seed] = json.loads(log.read_text().splitlines()[-1])
    if args.json:
        Path(args.json).write_text(json.dumps({"recipe": args.recipe, "variants": variants,
                                               "threads": args.threads, "results": results}, indent=1))
    print(f"{args.recipe}: {seeds_text(args.seeds - args.first)}, threads {args.threads}, "
          f"{args.num} chains per run")
    report(results)


if __name__ == "__main__":
    main()
