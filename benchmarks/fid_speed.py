"""FID from a checkpoint, end to end: in memory (``gibbsnet_plugin.metrics.fid``) against the
file route (write the samples as PNG files, then ``python -m pytorch_fid SAMPLES REF.npz``).

Both start from the checkpoint file and the same number of samples, run on the same device, and
compare against reference statistics of the same real images that are already computed (ours
in the FID cache, the file route's as pytorch-fid's ``--save-stats`` .npz), so what is timed is
loading, sampling, feature extraction and the Fréchet distance, plus, for the file route, writing
and reading the PNG files and starting pytorch-fid's process. Prints both times and the ratio
(target: in memory at least 2x faster) and the two FIDs (they should agree closely).

    python benchmarks/fid_speed.py [RUN] [--num 200] [--inception-weights PATH] [--device D]

Without weights (``--inception-weights``, ``$GIBBSNET_INCEPTION_WEIGHTS`` or the torch hub cache)
a randomly initialised Inception is used: same speed, meaningless values.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torchvision.utils import save_image

from gibbsnet_plugin.errors import InceptionWeightsError
from gibbsnet_plugin.metrics import fid as fid_module
from gibbsnet_plugin.metrics.inception import (
    WEIGHTS_FILE,
    InceptionFeatures,
    find_weights,
    weights_hash,
    write_random_weights,
)
from gibbsnet_plugin.testtime import load_run
from gibbsnet_plugin.utils import resolve_device, seeded


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def in_memory(run: str, weights: Path, num: int, device: str, cache: Path) -> tuple[float, float]:
    """(seconds, FID) of ``fid_module.fid`` from the checkpoint, reference statistics cached."""
    began = time.perf_counter()
    loaded = load_run(run, device)
    result = fid_module.fid(loaded.model, loaded.recipe, weights, num, cache=cache)
    _sync(loaded.model.device)
    return time.perf_counter() - began, result["fid"]


def file_route(run: str, torch_home: Path, reference: Path, num: int, device: str,
               workdir: Path) -> tuple[float, float]:
    """(seconds, FID): the same samples written as PNG files, scored by pytorch-fid's command."""
    began = time.perf_counter()
    loaded = load_run(run, device)
    samples = workdir / "samples"
    samples.mkdir()
    with seeded(0, loaded.model.device):
        index = 0
        for size in [fid_module.DEFAULT_BATCH] * (num // fid_module.DEFAULT_BATCH) + \
                [num % fid_module.DEFAULT_BATCH]:
            for image in (loaded.model.sample(size) if size else []):
                save_image(image, samples / f"{index:06d}.png", normalize=True, value_range=(-1, 1))
                index += 1
    out = subprocess.run(
        [sys.executable, "-m", "pytorch_fid", str(samples), str(reference),
         "--device", str(loaded.model.device)],
        env={**os.environ, "TORCH_HOME": str(torch_home)}, capture_output=True, text=True,
        check=True).stdout
    return time.perf_counter() - began, float(re.search(r"FID:\s+(\S+)", out).group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", nargs="?", default="runs/digits")
    parser.add_argument("--num", type=int, default=200, help="samples (and real images)")
    parser.add_argument("--inception-weights", default=None)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        torch_home = tmp / "torch"
        try:
            weights = find_weights(args.inception_weights)
            (torch_home / "hub" / "checkpoints").mkdir(parents=True)
            (torch_home / "hub" / "checkpoints" / WEIGHTS_FILE).symlink_to(weights.resolve())
            kind = "real"
        except InceptionWeightsError:
            weights, kind = write_random_weights(torch_home), "random"

        # Reference statistics, computed once for both routes and not timed.
        loaded = load_run(args.run, args.device)
        extractor = InceptionFeatures(weights).to(loaded.model.device)
        mu, sigma, info = fid_module.reference_statistics(
            loaded.recipe, "train", args.num, loaded.model.x_shape, extractor,
            weights_hash(weights), cache=tmp / "cache")
        num = info["num_images"]
        reference = tmp / "reference.npz"
        np.savez(reference, mu=mu, sigma=sigma)
        del extractor, loaded

        ours, ours_fid = in_memory(args.run, weights, num, args.device, tmp / "cache")
        theirs, their_fid = file_route(args.run, torch_home, reference, num, args.device, tmp)

    print(f"{num} samples from {args.run} on {resolve_device(args.device)} "
          f"(torch threads {torch.get_num_threads()}, {kind} Inception weights)")
    print(f"  in memory:  {ours:7.1f} s   FID {ours_fid:.4f}")
    print(f"  file route: {theirs:7.1f} s   FID {their_fid:.4f}")
    print(f"  ratio: {theirs / ours:.2f}x (file route / in memory; target >= 2x)")


if __name__ == "__main__":
    main()
