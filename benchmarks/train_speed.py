"""Trainer overhead: iterations/s of the Ignite trainer against a bare PyTorch loop.

Both run the same ``update`` (D step, then encoder/decoder step) on the same networks, the same
DataLoader and in the same process; the Ignite side also carries the per-iteration handlers of a
real run (progress bar, metrics log, NaN guard, Ctrl-C check). Rounds alternate between the two and
the median of each is reported, with the ratio (target: overhead at most 5 %).

    python benchmarks/train_speed.py [--recipe recipes/digits.yaml] [--iterations 300] [--rounds 5]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from pathlib import Path

import torch

import gibbsnet_plugin as gn
from gibbsnet_plugin.data.base import batch_to_x
from gibbsnet_plugin.engines.handlers import Interrupt, MetricsLog, NanGuard, ReportProgress
from gibbsnet_plugin.engines.trainer import create_trainer, update
from gibbsnet_plugin.factory import build_dataset, build_model, build_optimizers
from gibbsnet_plugin.utils import resolve_device


def bare_loop(model, opt_d, opt_g, loader, device, iterations: int) -> float:
    start = time.perf_counter()
    done = 0
    while done < iterations:
        for batch in loader:
            model.train()
            update(model, opt_d, opt_g, batch_to_x(batch, device))
            done += 1
            if done == iterations:
                break
    if device.type == "cuda":
        torch.cuda.synchronize()
    return iterations / (time.perf_counter() - start)


def ignite_loop(model, opt_d, opt_g, loader, device, iterations: int, log_dir: Path) -> float:
    trainer = create_trainer(model, opt_d, opt_g, device)
    NanGuard().attach(trainer)
    Interrupt().attach(trainer)
    MetricsLog(log_dir / "metrics.jsonl", every=50).attach(trainer)
    ReportProgress(lambda status: None, iterations).attach(trainer)
    start = time.perf_counter()
    trainer.run(loader, max_iters=iterations)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return iterations / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="recipes/digits.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    logging.getLogger("ignite").setLevel(logging.WARNING)

    recipe = gn.load_recipe(args.recipe, overrides=args.overrides)
    device = resolve_device(recipe.train.device)
    dataset = build_dataset(recipe, train=True)
    torch.manual_seed(recipe.seed)
    model = build_model(recipe, tuple(dataset[0][0].shape)).to(device)
    opt_d, opt_g = build_optimizers(model, recipe)
    loader = torch.utils.data.DataLoader(dataset, batch_size=recipe.data.batch_size, shuffle=True,
                                         drop_last=True)
    bare_loop(model, opt_d, opt_g, loader, device, 20)  # warm-up
    bare, engine = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            bare.append(bare_loop(model, opt_d, opt_g, loader, device, args.iterations))
            engine.append(ignite_loop(model, opt_d, opt_g, loader, device, args.iterations, Path(tmp)))
    b, e = statistics.median(bare), statistics.median(engine)
    print(f"recipe {args.recipe} on {device} ({torch.get_num_threads()} threads), "
          f"{args.rounds} rounds of {args.iterations} iterations")
    print(f"bare PyTorch loop : {b:8.2f} it/s (rounds: {', '.join(f'{v:.1f}' for v in bare)})")
    print(f"Ignite trainer    : {e:8.2f} it/s (rounds: {', '.join(f'{v:.1f}' for v in engine)})")
    print(f"ratio trainer/bare: {e / b:.3f}  (overhead {100 * (1 - e / b):+.1f} %)")


if __name__ == "__main__":
    main()
