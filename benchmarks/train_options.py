"""Training throughput of the performance options, as ratios to fp32 eager in one process.

Trains the recipe once per configuration (fp32, bf16, fp16, channels_last, compile, 2 processes,
each model-level stabiliser with ``--only stabilisers``, and the training terms on the chain's
spread with ``--only levers``: the masked reconstruction, scored by the squared error or the CRPS,
the pairwise critic and walkback, scored either way) for ``--iterations`` and reads the
trainer's own iterations/s from ``metrics.jsonl``
(median of the logged intervals after the first, so start-up and compilation are excluded).
Images/s = iterations/s × the global batch size. On a GPU, name it with ``--device cuda``.

    python benchmarks/train_options.py [--recipe recipes/digits.yaml] [--iterations 300]
        [--device cpu] [--only fp32 bf16 ... | stabilisers | levers] [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import torch

import gibbsnet_plugin as gn

CONFIGS: dict[str, tuple[list[str], int]] = {
    "fp32": ([], 1),
    "bf16": (["train.precision=bf16"], 1),
    "fp16": (["train.precision=fp16"], 1),
    "channels_last": (["train.channels_last=true"], 1),
    "compile": (["train.compile=true"], 1),
    "2 processes": ([], 2),
    "spectral_norm": (["model.spectral_norm=true"], 1),
    "r1": (["model.r1=1.0"], 1),
    "critic_states=2": (["model.critic_states=2", "model.backprop_steps=2"], 1),
    "persistent": (["model.persistent=0.5"], 1),
    "random_steps": (["model.random_steps=true"], 1),
    "z_consistency": (["model.z_consistency=1.0"], 1),
    "standardize": (["model.standardize=true"], 1),
    "decoder_noise": (["model.decoder_noise=16"], 1),
    "x_consistency": (["model.x_consistency=10"], 1),
    "crps": (["model.x_consistency=10", "model.reconstruction=crps"], 1),
    "stationarity": (["model.stationarity=5", "model.pack=2"], 1),
    "walkback": (["model.walkback=10"], 1),
    "walkback_crps": (["model.walkback=10", "model.reconstruction=crps", "model.walkback_steps=1"], 1),
}
LEVERS = ["x_consistency", "crps", "stationarity", "walkback", "walkback_crps"]
"""The training terms that look at the chain's spread (docs/results.md, "Long chains")."""
STABILISERS = [name for name, (sets, _) in CONFIGS.items()
               if sets and sets[0].startswith("model.") and name not in LEVERS]


def throughput(recipe_path: str, overrides: list[str], nproc: int, out: Path) -> float:
    recipe = gn.load_recipe(recipe_path, overrides=overrides)
    gn.train(recipe, out=out, nproc=nproc)
    rates = [json.loads(line)["it_per_s"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    return statistics.median(rates[1:] or rates) * recipe.data.batch_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="recipes/digits.yaml")
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--only", nargs="+", choices=[*CONFIGS, "stabilisers", "levers"],
                        default=[n for n in CONFIGS if n not in STABILISERS + LEVERS])
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    groups = {"stabilisers": STABILISERS, "levers": LEVERS}
    args.only = [m for n in args.only for m in groups.get(n, [n])]
    common = [f"train.iterations={args.iterations}", f"train.device={args.device}",
              f"train.log_every={max(1, args.iterations // 10)}", "train.sample_every=0",
              f"train.checkpoint_every={args.iterations}", "train.calibration_steps=0",
              *args.overrides]
    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else "CPU"
    print(f"{args.recipe}, {args.iterations} iterations on {device} "
          f"({torch.get_num_threads()} threads per process)")
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in ["fp32", *[n for n in args.only if n != "fp32"]]:
            extra, nproc = CONFIGS[name]
            out = Path(tmp) / name.replace(" ", "_")
            results[name] = throughput(args.recipe, common + extra, nproc, out)
            print(f"  {name:<14} {results[name]:9.1f} images/s   "
                  f"ratio to fp32: {results[name] / results['fp32']:.2f}", flush=True)


if __name__ == "__main__":
    main()
