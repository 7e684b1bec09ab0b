"""Trainer overhead: iterations/s of the Ignite trainer against a bare PyTorch loop, and the
cost of batch-norm calibration in a whole run of the recipe.

Both loops run the same ``update`` (D step, then encoder/decoder step) on the same networks, the
same DataLoader and in the same process. The bare loop's networks use plain batch norm; the
trainer's keep per-chain-step statistics (``ChainBatchNorm``, measured as training runs) and carry
the per-iteration handlers of a real run (progress bar, metrics log, NaN guard, Ctrl-C check).
Rounds alternate between the two and the median of each is reported, with the ratio.

Then the calibration that ends a run of the recipe (``train.calibration_steps`` chain steps of
``train.calibration_chains`` chains, fewer for a short run) is timed on the same networks, and set
against the run's training time at the trainer's rate: its share of the run, and the trainer's
iterations/s with it included, against the bare loop's.

    python benchmarks/train_speed.py [--recipe recipes/digits.yaml] [--iterations 300] [--rounds 5]
"""

from __future__ import annotations

import argparse
import copy
import logging
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch.nn.modules.batchnorm import _BatchNorm

import gibbsnet_plugin as gn
from gibbsnet_plugin.architectures.norms import ChainBatchNorm
from gibbsnet_plugin.calibration import calibrate_batchnorm, calibration_steps
from gibbsnet_plugin.data.base import batch_to_x
from gibbsnet_plugin.engines.handlers import Interrupt, MetricsLog, NanGuard, ReportProgress
from gibbsnet_plugin.engines.trainer import create_trainer, update
from gibbsnet_plugin.factory import build_dataset, build_model, build_optimizers
from gibbsnet_plugin.utils import resolve_device


class PlainBatchNorm(_BatchNorm):
    """Batch norm of 2-d to 4-d input without per-chain-step statistics."""

    def _check_input_dim(self, input: torch.Tensor) -> None:
        pass


def plain_batchnorm(module: torch.nn.Module) -> torch.nn.Module:
    """``module`` with every ``ChainBatchNorm`` replaced by a plain batch norm."""
    if isinstance(module, ChainBatchNorm):
        plain = PlainBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                               module.track_running_stats)
        plain.load_state_dict(module.state_dict(), strict=False)
        return plain
    for name, child in module.named_children():
        setattr(module, name, plain_batchnorm(child))
    return module


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
    bare_model = plain_batchnorm(copy.deepcopy(model))
    bare_opts = build_optimizers(bare_model, recipe)
    bare_loop(bare_model, *bare_opts, loader, device, 20)  # warm-up
    bare, engine = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            bare.append(bare_loop(bare_model, *bare_opts, loader, device, args.iterations))
            engine.append(ignite_loop(model, opt_d, opt_g, loader, device, args.iterations, Path(tmp)))
    b, e = statistics.median(bare), statistics.median(engine)
    print(f"recipe {args.recipe} on {device} ({torch.get_num_threads()} threads), "
          f"{args.rounds} rounds of {args.iterations} iterations")
    print(f"bare PyTorch loop, plain batch norm  : {b:8.2f} it/s "
          f"(rounds: {', '.join(f'{v:.1f}' for v in bare)})")
    print(f"Ignite trainer, per-step statistics  : {e:8.2f} it/s "
          f"(rounds: {', '.join(f'{v:.1f}' for v in engine)})")
    print(f"ratio trainer/bare: {e / b:.3f}  (overhead {100 * (1 - e / b):+.1f} %)")

    t = recipe.train
    steps = calibration_steps(t.calibration_steps, t.calibration_chains,
                              t.iterations * recipe.data.batch_size * recipe.model.chain_steps)
    start = time.perf_counter()
    calibrated = t.calibration_steps > 0 and calibrate_batchnorm(model, t.calibration_chains, steps,
                                                                 recipe.seed)
    seconds = time.perf_counter() - start if calibrated else 0.0
    training = t.iterations / e
    print(f"calibration at the end of the run: {steps} chain steps of {t.calibration_chains} chains "
          f"in {seconds:.1f} s" if calibrated else "calibration: none (no batch norm, or off)")
    print(f"a run of {t.iterations} iterations: training {training:.0f} s + calibration "
          f"{seconds:.1f} s; calibration share {100 * seconds / (training + seconds):.1f} %; "
          f"trainer with calibration / bare loop: {t.iterations / (training + seconds) / b:.3f}")


if __name__ == "__main__":
    main()
