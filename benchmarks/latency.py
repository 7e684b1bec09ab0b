"""How long the command line takes to answer, as ratios to importing PyTorch in the same run.

Each command is run ``--repeat`` times as a fresh process (``python -m gibbsnet_cli.main``, as
the ``gibbsnet`` script runs); the median wall time is compared with the median of
``python -c "import torch"`` measured alternately with them, so a busy machine slows both alike.

    python benchmarks/latency.py runs/digits --repeat 5
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGETS = {"--help": None, "plugins": None, "sample": 1.5, "inpaint": 1.5, "report": 3.0}
"""Each command's target, as a ratio to importing torch (None: it must not import torch)."""


def wall(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a trained run directory (e.g. runs/digits)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    python = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        commands = {
            "--help": ["--help"],
            "plugins": ["plugins"],
            "sample": ["sample", args.run, "--num", "64", "--out", str(out / "s.png"), "--force"],
            "inpaint": ["inpaint", args.run, "--mask", "right-half", "--out", str(out / "i.png"),
                        "--force"],
            "report": ["report", args.run, "--out", str(out / "r.html"), "--force"],
        }
        torch_times: list[float] = []
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeat):
            for name, argv in commands.items():
                torch_times.append(wall([python, "-c", "import torch"]))
                times[name].append(wall([python, "-m", "gibbsnet_cli.main", *argv]))
        loads_torch = {name: "torch" in subprocess.run(
            [python, "-c", "import sys; from gibbsnet_cli.main import main\ntry:\n main(sys.argv[1:])\n"
             "except SystemExit: pass\nprint('torch' in sys.modules)", *commands[name]],
            capture_output=True, text=True).stdout.splitlines()[-1:][0] == "True"
            for name in ("--help", "plugins")}
    base = statistics.median(torch_times)
    print(f"python -c 'import torch': {base:.2f} s (median of {len(torch_times)})")
    print("| command | median s | ratio to importing torch | target |")
    print("|---|---:|---:|---|")
    for name, values in times.items():
        median = statistics.median(values)
        target = TARGETS[name]
        goal = (f"no torch ({'met' if not loads_torch[name] else 'missed: it imports torch'})"
                if target is None else f"<= {target}x ({'met' if median / base <= target else 'missed'})")
        print(f"| gibbsnet {name} | {median:.2f} | {median / base:.2f} | {goal} |")


if __name__ == "__main__":
    main()
