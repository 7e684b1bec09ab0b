"""Sampling overhead: chain steps/s of ``model.sample`` against a bare loop of forward passes.

Both run the unclamped chain (z0 from the prior, then decoder and encoder passes) for the same
number of steps, on the same networks in eval mode, without autograd, in the same process; the
bare loop calls the decoder and encoder directly. A third line runs ``model.sample`` with the
command line's progress bar (rich, to a string buffer) as its step callback. Rounds alternate and
the median of each is reported, with the ratio (target: ``model.sample`` within 5 % of the bare
loop).

    python benchmarks/sample_speed.py [RUN] [--recipe recipes/digits.yaml] [--set KEY=VALUE]
                                      [--num 100] [--steps 1000] [--rounds 5]

A latent hierarchy (e.g. ``--set model.z_dim=[32,16]``) is compared with a bare loop of its
transition calls (deep GibbsNet sweeps, or HALI's passes).

RUN (a run directory or checkpoint) gives trained weights; without it the recipe's networks are
built untrained, which runs at the same speed.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from collections.abc import Callable

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

import gibbsnet_plugin as gn
from gibbsnet_plugin.chains import ChainModel, LatentHierarchy
from gibbsnet_plugin.factory import build_dataset, build_model, data_shape
from gibbsnet_plugin.utils import resolve_device


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def bare_hierarchy(model: LatentHierarchy, num: int, steps: int) -> float:
    """Steps/s of a hierarchy's chain written out as transition calls: deep GibbsNet sweeps (odd
    layers, then even ones) from noise, or HALI's pass down from the prior and cycles up and down."""
    dev, levels = model.device, model.levels
    start = time.perf_counter()
    with torch.no_grad():
        h = [torch.randn(num, *model.x_shape, device=dev),
             *(torch.randn(num, *shape, device=dev) for shape in model.latent_shapes)]
        for t in range(steps):
            if model.kind == "hali":
                if t:
                    for i in range(levels):
                        h[i + 1] = model.encoder[i](h[i])
                else:
                    h[levels] = torch.randn(num, *model.latent_shapes[-1], device=dev)
                for i in range(levels - 1, -1, -1):
                    h[i] = model.decoder[i](h[i + 1])
                continue
            for layer in [*range(1, levels + 1, 2), *range(0, levels + 1, 2)]:
                if layer == 0:
                    h[0] = model.decoder[0](h[1])
                elif layer == levels:
                    h[layer] = model.encoder[-1](h[layer - 1])
                else:
                    h[layer] = model.encoder[layer - 1](h[layer - 1], h[layer + 1])
    _sync(dev)
    return steps / (time.perf_counter() - start)


def bare_loop(model: ChainModel, num: int, steps: int) -> float:
    """Steps/s of the chain written out as decoder and encoder calls."""
    if isinstance(model, LatentHierarchy):
        return bare_hierarchy(model, num, steps)
    enc, dec = model.encoder, model.decoder
    start = time.perf_counter()
    with torch.no_grad():
        x = dec(torch.randn(num, model.z_dim, device=model.device))
        for _ in range(steps - 1):
            x = dec(enc(x))
    _sync(model.device)
    return steps / (time.perf_counter() - start)


def library(model: ChainModel, num: int, steps: int,
            callback: Callable[[int], None] | None = None) -> float:
    """Steps/s of ``model.sample``."""
    start = time.perf_counter()
    model.sample(num, steps, callback=callback)
    _sync(model.device)
    return steps / (time.perf_counter() - start)


def with_progress_bar(model: ChainModel, num: int, steps: int) -> float:
    """Steps/s of ``model.sample`` driving a rich progress bar, as ``gibbsnet sample`` does."""
    console = Console(file=io.StringIO())
    with Progress(TextColumn("sample"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task("sample", total=steps)
        return library(model, num, steps, lambda t: progress.update(task, completed=t))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", nargs="?", default=None)
    parser.add_argument("--recipe", default="recipes/digits.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--device", default=None)
    parser.add_argument("--num", type=int, default=100)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    if args.run:
        model = gn.load_model(args.run, device=args.device)
        source = args.run
    else:
        recipe = gn.load_recipe(args.recipe, overrides=args.overrides)
        device = resolve_device(args.device or recipe.train.device)
        torch.manual_seed(recipe.seed)
        model = build_model(recipe, data_shape(build_dataset(recipe, train=True))).to(device).eval()
        source = f"{args.recipe} {' '.join(args.overrides)} (untrained)"
    torch.manual_seed(0)
    library(model, args.num, 50)  # warm-up
    bare, lib, bar = [], [], []
    for _ in range(args.rounds):
        bare.append(bare_loop(model, args.num, args.steps))
        lib.append(library(model, args.num, args.steps))
        bar.append(with_progress_bar(model, args.num, args.steps))
    b, s, p = statistics.median(bare), statistics.median(lib), statistics.median(bar)

    def rounds(values: list[float]) -> str:
        return ", ".join(f"{v:.0f}" for v in values)

    print(f"{source} on {model.device} ({torch.get_num_threads()} threads): {args.rounds} rounds "
          f"of {args.num} chains × {args.steps} steps")
    print(f"bare loop of transition calls  : {b:8.1f} steps/s (rounds: {rounds(bare)})")
    print(f"model.sample                   : {s:8.1f} steps/s (rounds: {rounds(lib)})")
    print(f"model.sample with progress bar : {p:8.1f} steps/s (rounds: {rounds(bar)})")
    print(f"ratio sample/bare: {s / b:.3f}  (overhead {100 * (1 - s / b):+.1f} %); "
          f"with progress bar: {p / b:.3f} ({100 * (1 - p / b):+.1f} %)")


if __name__ == "__main__":
    main()
