"""Accuracy over seeds: a preset trained once per seed, as a user runs it, and scored once on the test set.

    python benchmarks/seeds.py                             # the default recipe, seeds 0-4
    python benchmarks/seeds.py --preset fast --seeds 0 1
    python benchmarks/seeds.py --seeds 0 --out /tmp/seeds.json --limit 1000 --epochs 1   # a smoke test

Each seed is `python -m mnist_sum train --preset P --seed S` (with any option seeds.py does not know), then
`python -m mnist_sum evaluate --json`, each in a fresh process. Prints the mean ± std, min and max of each
accuracy and of the training command's wall time; appends each run to benchmarks/results/seeds_<machine>.json.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from record import append, results_file, stamp

ROWS = {"digit_accuracy": "digit", "sum_accuracy": "sum (test numbers)", "sum_accuracy_all_pairs": "sum, all pairs",
        "wall_seconds": "wall time of `train`"}


def cli(*args):
    done = subprocess.run([sys.executable, "-m", "mnist_sum", *args], capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"seeds.py: `python -m mnist_sum {' '.join(args)}` failed: {done.stderr.strip()}")
    return done.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--out", type=Path, help="default: benchmarks/results/seeds_<machine>.json")
    args, train_options = parser.parse_known_args()
    out, runs = args.out or results_file("seeds"), []
    with tempfile.TemporaryDirectory() as folder:
        for seed in args.seeds:
            train = ["train", "--preset", args.preset, "--seed", str(seed), *train_options]
            checkpoint = str(Path(folder) / f"seed{seed}.pt")
            started = time.perf_counter()
            cli(*train, "--out", checkpoint)
            wall = round(time.perf_counter() - started, 1)
            scores = json.loads(cli("evaluate", "--checkpoint", checkpoint, "--json"))
            runs.append(stamp(train_command=" ".join(["python -m mnist_sum", *train]), preset=args.preset, seed=seed,
                              wall_seconds=wall, **{key: scores[key] for key in ROWS if key in scores}))
            append(out, runs[-1:])  # after every seed: a crash loses one run, not the hour before it
            print(f"seed {seed}: " + ", ".join(f"{label} {100 * scores[key]:.2f}%" for key, label in ROWS.items()
                                               if key in scores) + f", {wall:.0f} s", file=sys.stderr)

    print(f"\n`{runs[0]['command']}` on {runs[0]['machine']}, {runs[0]['threads']} threads, "
          f"training in {runs[0]['precision']}:\n\n| | mean ± std | min | max |\n|---|---:|---:|---:|")
    for key, label in ROWS.items():
        values = [r[key] for r in runs]
        scale, unit, digits = (1, " s", 1) if key == "wall_seconds" else (100, "%", 2)
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        print(f"| {label} | {scale * statistics.mean(values):.{digits}f}{unit} ± {scale * std:.{digits}f} | "
              f"{scale * min(values):.{digits}f}{unit} | {scale * max(values):.{digits}f}{unit} |")
    print(f"\nappended to {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
