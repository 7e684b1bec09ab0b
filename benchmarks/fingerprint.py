"""Fingerprints of behaviour: trained weights and seeded test-time outputs of small runs that
cover every chain kind and training setting, saved to a file and compared with an earlier one.

Run it before and after a change that must not alter behaviour (a refactoring): the second run
reports, per case, whether the weights, samples, inpaintings and codes are bit-identical, and the
largest difference otherwise.

    python benchmarks/fingerprint.py --save before.pt        # on the old code
    python benchmarks/fingerprint.py --compare before.pt     # on the new code
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

import gibbsnet_plugin as gn
from gibbsnet_plugin.recipe import recipe_from_dict

BASE = {
    "name": "fingerprint", "seed": 0,
    "data": {"dataset": "digits", "batch_size": 32},
    "model": {"architecture": "conv8", "z_dim": 4, "options": {"width": 8}, "chain_steps": 3},
    "train": {"iterations": 6, "log_every": 3, "sample_every": 0, "checkpoint_every": 6,
              "calibration_steps": 12, "calibration_chains": 8},
}
CASES: dict[str, dict[str, dict]] = {
    "gibbsnet": {},
    "ali": {"model": {"chain_steps": 1}},
    "lsgan-rmsprop": {"model": {"loss": "lsgan"}, "train": {"optimizer": "rmsprop"}},
    "stabilisers": {"model": {"z_consistency": 0.5, "x_consistency": 2.0, "r1": 1.0, "pack": 2,
                              "critic_states": 2, "backprop_steps": 2, "persistent": 0.5}},
    "random-steps": {"model": {"random_steps": True, "instance_noise": 0.1}},
    "deep-gibbsnet": {"model": {"z_dim": [6, 4], "kind": "gibbsnet"}},
    "hali": {"model": {"z_dim": [6, 4], "kind": "hali"}},
    "missing": {"data": {"missing": "random-50"}},
    "corruption": {"data": {"corruption": {"name": "noise", "options": {"sigma": 0.2}}}},
    "mlp-ema": {"model": {"architecture": "mlp", "options": {"hidden": [32]}},
                "train": {"ema": 0.01}},
    "rbm": {"data": {"options": {"binarize": True}},
            "model": {"architecture": "rbm", "z_dim": 16, "options": {}}},
}


def recipe(case: dict[str, dict]) -> gn.Recipe:
    raw = {k: dict(v) if isinstance(v, dict) else v for k, v in BASE.items()}
    for section, values in case.items():
        raw[section] = {**raw[section], **values}
    return recipe_from_dict(raw)


def fingerprint(case: dict[str, dict], out: Path) -> dict[str, torch.Tensor]:
    """The trained state and seeded outputs of one case."""
    torch.manual_seed(0)
    run = gn.train(recipe(case), out=out)
    model = gn.load_model(run, device="cpu")
    found = {f"weights/{k}": v.detach().clone() for k, v in model.state_dict().items()}
    torch.manual_seed(1)
    found["sample"] = model.sample(8, steps=5)
    x = gn.datasets.build("digits", "", train=False)
    images = torch.stack([x[i][0] for i in range(8)])
    mask = torch.ones_like(images[0])
    mask[..., 4:] = 0
    torch.manual_seed(2)
    found["inpaint"] = model.inpaint(images, mask, steps=4)
    torch.manual_seed(3)
    codes = model.encode(images)
    found["encode"] = torch.cat([c.flatten(1) for c in codes], 1) if isinstance(codes, list) else codes
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--save", type=Path, help="write the fingerprints to this file")
    group.add_argument("--compare", type=Path, help="compare with the fingerprints in this file")
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.cases:
            results[name] = fingerprint(CASES[name], Path(tmp) / name)
            print(f"{name}: {len(results[name])} tensors", file=sys.stderr)
    if args.save:
        torch.save(results, args.save)
        return
    before = torch.load(args.compare, weights_only=True)
    changed = 0
    for name, found in results.items():
        old = before.get(name)
        if old is None:
            print(f"{name}: not in {args.compare}")
            continue
        if set(old) != set(found):
            print(f"{name}: different tensors: {sorted(set(old) ^ set(found))}")
            changed += 1
            continue
        diffs = {k: (found[k].float() - old[k].float()).abs().max().item() if found[k].numel() else 0.0
                 for k in found if not torch.equal(found[k], old[k])}
        if diffs:
            changed += 1
            worst = max(diffs, key=diffs.get)
            print(f"{name}: {len(diffs)} of {len(found)} tensors differ; "
                  f"largest {diffs[worst]:.3g} in {worst}")
        else:
            print(f"{name}: identical ({len(found)} tensors)")
    print(f"{len(results) - changed} of {len(results)} cases identical")


if __name__ == "__main__":
    main()
