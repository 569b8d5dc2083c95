"""Accuracy over seeds: the default recipe trained once per seed, exactly as a user runs it.

    python benchmarks/seeds.py                      # seeds 0-4, about 10 minutes a run on 2 CPU cores
    python benchmarks/seeds.py --seeds 0 1 --preset fast

Each run is `python -m mnist_sum train --seed S` then `python -m mnist_sum
evaluate`, in fresh processes. Prints the mean, standard deviation, minimum
and maximum of each accuracy and the wall time per run, and writes them as
JSON to benchmarks/results/seeds_<preset>.json.
"""

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mnist_sum.atomic import atomic_path
from mnist_sum.config import PRESETS

KEYS = {"digit_accuracy": "digit", "sum_accuracy": "sum (test numbers)", "sum_accuracy_all_pairs": "sum, all pairs"}


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
    metrics = json.loads(cli("evaluate", "--checkpoint", out, "--json"))
    return {"seed": seed, "wall_seconds": round(wall, 1), **{key: metrics[key] for key in KEYS}}


def summary(values):
    return {"mean": statistics.mean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--preset", choices=PRESETS, default="default")
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory() as folder:
        for seed in args.seeds:
            runs.append(one_run(seed, args.preset, folder))
            row = ", ".join(f"{label} {100 * runs[-1][key]:.2f}%" for key, label in KEYS.items())
            print(f"seed {seed}: {row}, {runs[-1]['wall_seconds']:.0f} s", file=sys.stderr)

    result = {"preset": args.preset, "machine": f"{platform.processor() or platform.machine()}, "
              f"{platform.python_version()}", "runs": runs,
              "summary": {key: summary([r[key] for r in runs]) for key in [*KEYS, "wall_seconds"]}}
    command = " ".join(["python", *sys.argv])
    print(f"\nMeasured with `{command}` (seeds {', '.join(map(str, args.seeds))}):\n")
    print("| | mean ± std | min | max |\n|---|---:|---:|---:|")
    for key, label in KEYS.items():
        s = result["summary"][key]
        print(f"| {label} | {100 * s['mean']:.2f}% ± {100 * s['std']:.2f} | {100 * s['min']:.2f}% | "
              f"{100 * s['max']:.2f}% |")
    s = result["summary"]["wall_seconds"]
    print(f"| wall time per run | {s['mean']:.0f} s ± {s['std']:.0f} | {s['min']:.0f} s | {s['max']:.0f} s |")

    out = Path("benchmarks/results") / f"seeds_{args.preset}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
