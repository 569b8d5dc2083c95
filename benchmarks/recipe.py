"""Recipe candidates on validation: each trained over seeds and scored on held-out training images only.

    python benchmarks/recipe.py --candidates default default,adder_lr_scale=3 --seeds 0 1 2
    python benchmarks/recipe.py --candidates fast,epochs=1 fast fast,adder_lr_scale=3 --seeds 0 1 2 3 4 --target 0.992

A candidate is a preset and settings of `Config` that replace its own: `fast,epochs=1,lr=0.07`. Each run is
`train(candidate, seed=S, validation=5000)`: the last 5,000 training images are never trained on, and the last
epoch's accuracy on them is the run's score (train() scores the test set once at the end; that line is dropped).
Runs go two at a time, one thread each; a run that diverges scores 0. Each run is appended to
benchmarks/results/recipe_<machine>.json, and a candidate, seed, validation size and precision on record there
is not run again.

The rule, fixed before the runs. A candidate's score is the mean over seeds of its digit and sum accuracy; its
cost is the training's work, epochs times the network's multiply-adds per image.
- Without --target (the default recipe): the cheapest candidate whose score is within 0.04 points (2 of 5,000
  images) of the best; between equally cheap ones, the one that changes fewer settings of its preset, then the
  higher score.
- With --target 0.992 (the fast preset): the cheapest candidate whose mean digit and mean sum accuracy both reach
  99.2% (a margin over its goal of 99% on the test set), then as above.
"""

import argparse
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import fields, replace
from pathlib import Path

import torch
from record import append, results_file, stamp
from torch.utils.flop_counter import FlopCounterMode

from mnist_sum import SumNet
from mnist_sum.data import one_hot
from mnist_sum.training import PRESETS, Config, train

ACCURACIES = ("digit_accuracy", "sum_accuracy")
TOLERANCE = 0.0004


def parse(candidate):
    """A candidate's Config, and its name: the preset, then the settings that differ from it, in Config's order."""
    preset, *settings = candidate.split(",")
    types = {f.name: f.type for f in fields(Config)}
    config = replace(PRESETS[preset], **{key: (value.lower() == "true" if types[key] is bool else types[key](value))
                                         for key, value in (s.split("=") for s in settings)})
    changed = [f.name for f in fields(Config) if getattr(config, f.name) != getattr(PRESETS[preset], f.name)]
    value = lambda v: f"{v:g}" if isinstance(v, float) else str(v)  # noqa: E731
    return config, ",".join([preset, *(f"{key}={value(getattr(config, key))}" for key in changed)])


def cost(config):
    with FlopCounterMode(display=False) as flops:
        SumNet(config.adder, config.width, config.hidden).eval()(torch.zeros(1, 1, 28, 28), one_hot(torch.tensor([3])))
    return config.epochs * flops.get_total_flops()


def one_run(job):
    """Train one candidate on one seed, one thread; its last epoch's validation accuracies."""
    candidate, seed, validation = job
    torch.set_num_threads(1)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        try:
            _, history = train(parse(candidate)[0], seed=seed, validation=validation, out=f"{folder}/model.pt",
                               progress=False, log=lambda line: None)
        except ValueError as e:
            if "training loss became" not in str(e):
                raise
            return {"diverged": True, "wall_seconds": round(time.perf_counter() - started, 1),
                    **dict.fromkeys(ACCURACIES, 0.0)}
    return {"wall_seconds": round(time.perf_counter() - started, 1), **{k: history[-1][k] for k in ACCURACIES}}


def pick(table, target=None):
    """The candidate the rule picks from {name: row}, or None."""
    best = max(row["score"] for row in table.values())
    ok = [name for name, row in table.items()
          if (min(row[k]["mean"] for k in ACCURACIES) >= target if target else row["score"] >= best - TOLERANCE)]
    return min(ok, key=lambda name: (table[name]["cost"], name.count(","), -table[name]["score"]), default=None)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--candidates", nargs="+", required=True, help="e.g. default fast,epochs=1,lr=0.07")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--validation", type=int, default=5000)
    parser.add_argument("--target", type=float, help="the fast preset's rule: mean digit and sum both reach this")
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time, one thread each")
    parser.add_argument("--out", help="default: benchmarks/results/recipe_<machine>.json")
    args = parser.parse_args()
    out, names = args.out or results_file("recipe"), [parse(c)[1] for c in args.candidates]
    here = stamp(threads=1, runs_at_a_time=args.jobs)
    key = lambda r: (r["candidate"], r["seed"], r["validation"], r["precision"])  # noqa: E731
    runs = [r for r in (json.loads(Path(out).read_text()) if Path(out).exists() else [])
            if r["candidate"] in names and r["seed"] in args.seeds and r["validation"] == args.validation
            and r["precision"] == here["precision"]]
    todo = [(n, s, args.validation) for n in names for s in args.seeds if (n, s, args.validation, here["precision"])
            not in {key(r) for r in runs}]
    print(f"{len(todo)} runs to do, {len(runs)} on record in {out}", file=sys.stderr)
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        for (name, seed, validation), result in zip(todo, pool.map(one_run, todo)):
            runs.append({**here, "candidate": name, "seed": seed, "validation": validation, **result})
            append(out, runs[-1:])
            print(f"{name} seed {seed}: digit {100 * result['digit_accuracy']:.2f}%, sum "
                  f"{100 * result['sum_accuracy']:.2f}% on validation, {result['wall_seconds']:.0f} s", file=sys.stderr)

    table = {}
    for name in names:
        mine = [r for r in runs if r["candidate"] == name]
        table[name] = {k: {"mean": statistics.mean(r[k] for r in mine),
                           "std": statistics.stdev(r[k] for r in mine) if len(mine) > 1 else 0.0,
                           "min": min(r[k] for r in mine)} for k in (*ACCURACIES, "wall_seconds")}
        table[name]["score"] = statistics.mean(table[name][k]["mean"] for k in ACCURACIES)
        table[name]["cost"] = cost(parse(name)[0])
    print(f"\nValidation accuracy, last {args.validation} training images, seeds {args.seeds}, on {here['machine']} "
          f"({here['precision']}, {args.jobs} runs at a time, 1 thread each):\n")
    print("| candidate | digit, mean ± std | sum, mean ± std | lowest digit / sum | score | wall time per run |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, row in table.items():
        d, s = row["digit_accuracy"], row["sum_accuracy"]
        print(f"| `{name}` | {100 * d['mean']:.2f}% ± {100 * d['std']:.2f} | {100 * s['mean']:.2f}% ± "
              f"{100 * s['std']:.2f} | {100 * d['min']:.2f}% / {100 * s['min']:.2f}% | {100 * row['score']:.3f}% | "
              f"{row['wall_seconds']['mean']:.0f} s |")
    print(f"\nthe rule picks: {pick(table, args.target) or 'none (no candidate reaches the target)'}")


if __name__ == "__main__":
    main()
