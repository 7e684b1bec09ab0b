"""Sample quality as a distribution over training runs: K seeds per variant, mean ± std and worst.

Trains every (variant, seed) of a recipe in its own process (``gibbsnet train``), alternating the
CPU thread count over the seeds (``--threads 1 2``: seed 0 with 1 thread, seed 1 with 2, ...), as
many at once as the cores allow; then scores each run's unclamped chain at ``--steps`` and prints,
per score and chain length, ``mean ± std (worst)`` over the seeds for each variant side by side.

Scores: on digits those of ``chain_quality.py`` (normalised class entropy, confidence, nn ratio,
Fréchet distance in a digits classifier's features); on 2-D mixtures (``grid25``, ``ring8``) the
PacGAN/VEEGAN ones (modes covered, share of high-quality samples, reverse KL over modes).

Runs that already exist in ``--out`` with the same resolved recipe are scored, not retrained, so
an interrupted benchmark continues where it stopped.

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
from dataclasses import dataclass, field
from pathlib import Path

import torch

import gibbsnet_plugin as gn
from gibbsnet_plugin.checkpoint import load_model_and_recipe

HERE = Path(__file__).resolve().parent
MODE_SCORES = {"modes": True, "modes_high_quality": True, "modes_reverse_kl": False}


@dataclass
class Job:
    """One training or scoring process: its command, environment, thread count and log."""

    argv: list[str]
    threads: int
    log: Path
    env: dict[str, str] = field(default_factory=dict)


def run_jobs(jobs: list[Job], cores: int) -> None:
    """Run ``jobs`` with at most ``cores`` threads busy at once; raise if any fails."""
    waiting, running, failed = list(jobs), [], []
    while waiting or running:
        busy = sum(job.threads for job, _ in running)
        while waiting and (not running or busy + waiting[0].threads <= cores):
            job = waiting.pop(0)
            job.log.parent.mkdir(parents=True, exist_ok=True)
            env = {**os.environ, **job.env, "OMP_NUM_THREADS": str(job.threads)}
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
    if failed:
        raise SystemExit("failed: " + "; ".join(failed))


def is_trained(run: Path, recipe: gn.Recipe) -> bool:
    """True when ``run`` finished training ``recipe`` (same resolved recipe, all iterations)."""
    try:
        same = (run / "recipe.yaml").read_text() == recipe.to_yaml()
        done = json.loads((run / "bench.json").read_text())["iterations"] == recipe.train.iterations
    except (OSError, KeyError, ValueError):
        return False
    return same and done and (run / "checkpoints" / "last.pt").exists()


def score_run(run: str, steps: list[int], num: int, seed: int) -> list[dict[str, float]]:
    """The chain scores of one run at each of ``steps`` (see the module docstring)."""
    model, recipe, _ = load_model_and_recipe(run, device="cpu")
    data = gn.datasets.build(recipe.data.dataset, recipe.data.root, train=True, **recipe.data.options)
    if hasattr(data, "centres"):
        from gibbsnet_plugin.metrics.modes import mode_scores

        torch.manual_seed(seed)
        states = model.eval().trajectory(num, steps)
        return [{"step": t, **mode_scores(states[:, i], data.centres, data.std)}
                for i, t in enumerate(sorted(set(steps)))]
    sys.path.insert(0, str(HERE))
    from chain_quality import chain_stats, reference

    return chain_stats(model, steps, num, seed, reference())


def directions(rows: list[dict[str, float]]) -> dict[str, bool]:
    from chain_quality import HIGHER_IS_BETTER

    scores = {**HIGHER_IS_BETTER, **MODE_SCORES}
    return {k: scores[k] for k in rows[0] if k in scores}


def summary(values: list[float], higher: bool) -> str:
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    worst = min(values) if higher else max(values)
    return f"{mean:.3f} ± {std:.3f} ({worst:.3f})"


def report(results: dict[str, dict[int, list[dict[str, float]]]]) -> None:
    """Print one table per score: rows = chain lengths, columns = variants."""
    sys.path.insert(0, str(HERE))
    first = next(iter(next(iter(results.values())).values()))
    variants = list(results)
    for score, higher in directions(first).items():
        print(f"\n{score} ({'higher' if higher else 'lower'} is better): mean ± std (worst seed) "
              f"over {len(next(iter(results.values())))} seeds")
        print(f"| steps | {' | '.join(variants)} |")
        print(f"|---:|{'---|' * len(variants)}")
        for i, row in enumerate(first):
            cells = [summary([rows[i][score] for rows in results[v].values()], higher) for v in variants]
            print(f"| {row['step']} | {' | '.join(cells)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe")
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..K-1 (default 5)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                        help="thread counts, alternated over the seeds (default 1 2)")
    parser.add_argument("--variant", nargs="+", action="append", metavar=("NAME", "KEY=VALUE"),
                        help="a variant: a name and its --set overrides (default: the recipe as is)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="overrides for every variant")
    parser.add_argument("--steps", type=int, nargs="+", default=[1, 10, 100, 1000, 5000])
    parser.add_argument("--num", type=int, default=500, help="chains scored per run (default 500)")
    parser.add_argument("--out", default=None, help="run directories (default runs/seeds/<recipe>)")
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", default=None, help="also write every run's scores to this file")
    parser.add_argument("--score", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.score:
        print(json.dumps(score_run(args.score, sorted(args.steps), args.num, 0)))
        return

    variants = args.variant or [["recipe"]]
    out = Path(args.out or Path("runs") / "seeds" / Path(args.recipe).stem)
    runs: dict[tuple[str, int], Path] = {}
    train_jobs, trained = [], []
    for name, *sets in variants:
        for seed in range(args.seeds):
            overrides = [*args.overrides, *sets, f"seed={seed}"]
            recipe = gn.load_recipe(args.recipe, overrides=overrides)
            run = out / name / f"seed{seed}"
            runs[name, seed] = run
            if is_trained(run, recipe):
                continue
            threads = args.threads[seed % len(args.threads)]
            argv = [sys.executable, "-m", "gibbsnet_cli.main", "train", args.recipe, "--out", str(run),
                    "--force", *[a for o in overrides for a in ("--set", o)]]
            train_jobs.append(Job(argv, threads, out / "logs" / f"train-{name}-{seed}.log"))
            trained.append((run, threads, recipe.train.iterations))
    start = time.perf_counter()
    run_jobs(train_jobs, args.cores)
    for run, threads, iterations in trained:
        (run / "bench.json").write_text(json.dumps({"threads": threads, "iterations": iterations}))
    print(f"trained {len(train_jobs)} run(s) in {time.perf_counter() - start:.0f} s", file=sys.stderr)

    steps = [str(s) for s in sorted(args.steps)]
    score_jobs = [Job([sys.executable, __file__, args.recipe, "--score", str(run), "--num", str(args.num),
                       "--steps", *steps], 1, out / "logs" / f"score-{name}-{seed}.json")
                  for (name, seed), run in runs.items()]
    run_jobs(score_jobs, args.cores)
    results: dict[str, dict[int, list[dict[str, float]]]] = {}
    for (name, seed), job in zip(runs, score_jobs, strict=True):
        results.setdefault(name, {})[seed] = json.loads(job.log.read_text().splitlines()[-1])
    if args.json:
        Path(args.json).write_text(json.dumps({"recipe": args.recipe, "variants": variants,
                                               "threads": args.threads, "results": results}, indent=1))
    print(f"{args.recipe}: {args.seeds} seeds, threads {args.threads}, {args.num} chains per run")
    report(results)


if __name__ == "__main__":
    main()
