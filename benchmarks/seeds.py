"""Accuracy over seeds: the default recipe trained once per seed, exactly as a user runs it.

    python benchmarks/seeds.py                      # seeds 0-4, about 10 minutes a run on 2 CPU cores
    python benchmarks/seeds.py --seeds 0 1 --preset fast

Each run is `python -m mnist_sum train --seed S`, then `python -m mnist_sum
evaluate` with and without `--tta`, in fresh processes. Prints the mean,
standard deviation, minimum and maximum of each accuracy and the wall time
per training run, and writes them as JSON to benchmarks/results/seeds_<preset>.json.
"""

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from record import cpu_name, summary, write_json

from mnist_sum.config import PRESETS
from mnist_sum.machinery.runtime import Precision, pick_device

ACCURACIES = {"digit_accuracy": "digit", "sum_accuracy": "sum (test numbers)",
              "sum_accuracy_all_pairs": "sum, all pairs"}
# the same accuracies twice: as `evaluate` gives them, then with `evaluate --tta`
KEYS = {**ACCURACIES, **{f"tta_{key}": f"{label}, with --tta" for key, label in ACCURACIES.items()}}


def cli(*args):
    done = subprocess.run([sys.executable, "-m", "mnist_sum", *map(str, args)], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"seeds.py: `mnist_sum {' '.join(map(str, args))}` failed: {done.stderr.strip()}")
    return done.stdout


def one_run(seed, preset, folder):
    out = Path(folder) / f"seed{seed}.pt"
    started = time.perf_counter()
    cli("train", "--preset", preset, "--seed", seed, "--out", out, "--json")
    wall = time.perf_counter() - started
    plain = json.loads(cli("evaluate", "--checkpoint", out, "--json"))
    tta = json.loads(cli("evaluate", "--checkpoint", out, "--tta", "--json"))
    return {"seed": seed, "wall_seconds": round(wall, 1), **{key: plain[key] for key in ACCURACIES},
            **{f"tta_{key}": tta[key] for key in ACCURACIES}}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--preset", choices=PRESETS, default="default")
    args = parser.parse_args()
    out = Path("benchmarks/results") / f"seeds_{args.preset}.json"
    runs = []
    with tempfile.TemporaryDirectory() as folder:
        for seed in args.seeds:
            runs.append(one_run(seed, args.preset, folder))
            row = ", ".join(f"{label} {100 * runs[-1][key]:.2f}%" for key, label in KEYS.items())
            print(f"seed {seed}: {row}, {runs[-1]['wall_seconds']:.0f} s", file=sys.stderr)
            result = write(out, args, runs)  # after every run: an hour's work is not lost to a crash at the end

    print(f"\nMeasured on {result['machine']} with `{result['command']}`:\n")
    print("| | mean ± std | min | max |\n|---|---:|---:|---:|")
    for key, label in KEYS.items():
        s = result["summary"][key]
        print(f"| {label} | {100 * s['mean']:.2f}% ± {100 * s['std']:.2f} | {100 * s['min']:.2f}% | "
              f"{100 * s['max']:.2f}% |")
    s = result["summary"]["wall_seconds"]
    print(f"| wall time per training run | {s['mean']:.0f} s ± {s['std']:.0f} | {s['min']:.0f} s | {s['max']:.0f} s |")
    print(f"\nwrote {out}", file=sys.stderr)


def machine():
    """The CPU and the threads torch will use in the runs' fresh processes."""
    threads = subprocess.run([sys.executable, "-c", "import torch; print(torch.get_num_threads())"],
                             capture_output=True, text=True).stdout.strip()
    return f"{cpu_name()}, {threads} threads"


def precision():
    """The precision the runs train in on this machine (evaluation is always float32)."""
    return str(Precision.for_device(pick_device()))


def write(out, args, runs):
    """The runs so far and their summary, written atomically; `complete` is false until every seed has run."""
    result = {"preset": args.preset, "command": " ".join(["python", *sys.argv]), "machine": machine(),
              "precision": precision(),
              "python": platform.python_version(), "complete": len(runs) == len(args.seeds), "runs": runs,
              "summary": {key: summary([r[key] for r in runs]) for key in [*KEYS, "wall_seconds"]}}
    write_json(out, result)
    return result


if __name__ == "__main__":
    main()
