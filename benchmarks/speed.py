"""Side-by-side speed: the reference network against SumNet, in one process on one machine.

    python benchmarks/speed.py            # everything: time to 99% for each preset, the fastest
                                          # public recipe beside them, the command's start-up
    python benchmarks/speed.py --quick    # step times only, under a minute
    python benchmarks/speed.py --quick --compile   # adds SumNet under torch.compile
    python benchmarks/speed.py --float32  # training forced to float32 on a CPU with bfloat16 units,
                                          # the nearest this machine comes to a CPU without them

Prints a markdown table and writes the same figures as JSON
(benchmarks/results/speed_<device>[_<precision> unless float32].json, or --out).
"""

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from unittest.mock import patch

import torch
import torch.nn as nn
import torch.nn.functional as F
from record import cpu_name, precision_suffix, write_json

from mnist_sum import SumNet, evaluation
from mnist_sum.config import PRESETS
from mnist_sum.data import MNISTRandomNumber, augment, one_hot
from mnist_sum.evaluation import evaluate
from mnist_sum.machinery.runtime import Precision, channels_last, pick_device
from mnist_sum.model import ReferenceNet
from mnist_sum.training import train, train_step

ROUNDS = 4


def multiply_adds(model, device):
    """Forward multiply-adds for one image, counted from the shapes each layer produces."""
    total = 0

    def count(module, inputs, output):
        nonlocal total
        if isinstance(module, nn.Conv2d):
            kernel = module.kernel_size[0] * module.kernel_size[1]
            total += output[0].numel() * module.in_channels // module.groups * kernel
        elif isinstance(module, nn.Linear):
            total += module.in_features * module.out_features
    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model.eval()(torch.zeros(1, 1, 28, 28, device=device), one_hot(torch.tensor([3], device=device)))
    for hook in hooks:
        hook.remove()
    return total


def step_times(model, device, batch_size, fast, steps=12, warmup=4):
    """Seconds per training step (augmentation, forward, backward, update) on random data, after warm-up."""
    model = model.to(device).train()
    if fast:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(batch_size, 1, 28, 28, device=device)
    numbers = torch.randint(10, (batch_size,), device=device)
    digits = torch.randint(10, (batch_size,), device=device)
    batch = ((images, one_hot(numbers)), (digits, digits + numbers))
    augment_batch = (lambda x: channels_last(augment(x, generator))) if fast else partial(augment, generator=generator)
    precision = Precision.for_device(device) if fast else None
    times = []
    for i in range(warmup + steps):
        start = time.perf_counter()
        train_step(model, batch, optimizer, augment_batch, precision)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return times


def step_seconds(model, device, batch_size, fast, steps=12, warmup=4):
    """Median time of one training step."""
    return statistics.median(step_times(model, device, batch_size, fast, steps, warmup))


class _TargetsReached(Exception):
    """Raised from the step callback: the rest of the run would not change the answer."""


# steps between time-to-accuracy probes, per preset: the default's run is 18 epochs long, and a probe every
# 100 steps keeps the benchmark's wall time sane
PROBE_EVERY = {"fast": 20, "default": 100}


def time_to_accuracy(device, preset, targets=(0.990, 0.995), probe_every=20):
    """Train with a preset's settings; every `probe_every` steps evaluate the averaged model
    with the clock stopped, and stop training once every target is reached on both heads.
    The clock also stops while train() scores each finished epoch: training time, set-up included, scoring not.
    Returns {target: seconds of training, step, both accuracies} for each target reached.
    (The full runs' wall times and final accuracies are benchmarks/seeds.py's job.)"""
    test_set = MNISTRandomNumber(train=False)
    reached, paused, epochs_scored = {}, 0.0, 0.0  # seconds off the clock: all scoring; train()'s alone
    started = time.perf_counter()

    def probe(step, model):
        nonlocal paused
        if step % probe_every:
            return
        probe_start = time.perf_counter()
        metrics = evaluate(model, test_set, device, all_pairs=False)
        both = min(metrics["digit_accuracy"], metrics["sum_accuracy"])
        now = probe_start - started - paused
        for target in targets:
            if both >= target and target not in reached:
                reached[target] = {"seconds": round(now, 1), "step": step,
                                   "digit_accuracy": metrics["digit_accuracy"], "sum_accuracy": metrics["sum_accuracy"],
                                   "epoch_scoring_seconds_left_out": round(epochs_scored, 2)}
                print(f"    --preset {preset}: {100 * target:.1f}% on both heads after {now:.1f} s", file=sys.stderr)
        paused += time.perf_counter() - probe_start
        if len(reached) == len(targets):
            raise _TargetsReached

    def epoch_scoring(*args, **kwargs):
        nonlocal paused, epochs_scored
        scoring_start = time.perf_counter()
        try:
            return evaluate(*args, **kwargs)
        finally:
            seconds = time.perf_counter() - scoring_start
            paused += seconds
            epochs_scored += seconds

    # train() imports evaluate when it is called, so it finds this timed one
    with tempfile.TemporaryDirectory() as folder, patch.object(evaluation, "evaluate", epoch_scoring):
        try:
            train(PRESETS[preset], out=Path(folder) / "model.pt", device=device, progress=False,
                  log=lambda line: print("   ", line, file=sys.stderr), on_step=probe)
        except _TargetsReached:
            pass
    return reached


class PeerNet(nn.Module):
    """The network of the fastest public MNIST recipe we know (tuomaso/train_mnist_fast: 99.04% on the digit after
    one epoch, 0.76 s on a laptop GPU), rebuilt from its README: a 5x5 convolution to 24 channels and a 3x3 one to
    32, each max-pooled before its ReLU, then 256 hidden units. It reads the digit only; there is no sum."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 24, 5), nn.Conv2d(24, 32, 3)
        self.fc1, self.fc2 = nn.Linear(32 * 5 * 5, 256), nn.Linear(256, 10)

    def forward(self, x):
        x = F.relu(F.max_pool2d(self.conv1(x), 2))  # 28 -> 24 -> 12
        x = F.relu(F.max_pool2d(self.conv2(x), 2))  # 12 -> 10 -> 5
        return F.log_softmax(self.fc2(F.relu(self.fc1(x.flatten(1)))), dim=1)


def peer_epoch(device, seed, layout_fast):
    """The peer's recipe as published: the training images held in memory, batch 256, Adam (lr 0.01, betas 0.7
    and 0.9) under a one-cycle schedule, one epoch, no augmentation. Returns seconds of training (the epoch alone)
    and its test accuracy. `layout_fast` adds our channels-last layout, which the published code does not use."""
    torch.manual_seed(seed)
    train_set, test_set = MNISTRandomNumber(train=True), MNISTRandomNumber(train=False)  # normalised, as ours reads
    images, digits = train_set.images.to(device), train_set.digits.to(device)
    test_images, test_digits = test_set.images.to(device), test_set.digits.to(device)
    model = PeerNet().to(device)
    if layout_fast:
        model, images = model.to(memory_format=torch.channels_last), channels_last(images)
    steps = math.ceil(len(images) / 256)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01, betas=(0.7, 0.9))
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.01, total_steps=steps)
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed)).to(device)
    started = time.perf_counter()
    for start in range(0, len(images), 256):
        idx = order[start:start + 256]
        loss = F.nll_loss(model(images[idx]), digits[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    with torch.no_grad():
        predicted = torch.cat([model.eval()(test_images[i:i + 1000]).argmax(1) for i in range(0, 10000, 1000)])
    return {"seconds": round(seconds, 2), "digit_accuracy": (predicted == test_digits).float().mean().item()}


STARTUP = """
import sys, time
from mnist_sum.config import PRESETS
from mnist_sum.data import MNISTRandomNumber
from mnist_sum.model import SumNet
config = PRESETS["fast"]
MNISTRandomNumber(train=True, seed=config.seed)
MNISTRandomNumber(train=False)
SumNet(**config.model_options())
print(time.time() - float(sys.argv[1]))
"""


# Prepended to every Python process this benchmark starts when --float32 is given: the package then sees a CPU
# without bfloat16 units, so training takes the float32 path, as on such a CPU.
FORCE_FLOAT32 = "from mnist_sum.machinery import runtime; runtime._cpu_has_fast_bf16 = lambda: False\n"
CHILD_PREFIX = ""


def force_float32():
    """The float32 path here and in every process started from here on: the same line, run in both."""
    global CHILD_PREFIX
    CHILD_PREFIX = FORCE_FLOAT32
    exec(FORCE_FLOAT32)


def startup_seconds():
    """From launching Python to a ready model and data sets: the imports, reading and checking MNIST, building
    the sets; what `train` does before its first step."""
    result = subprocess.run([sys.executable, "-c", CHILD_PREFIX + STARTUP, repr(time.time())], capture_output=True,
                            text=True, check=True)
    return round(float(result.stdout.strip()), 2)


def whole_fast_command():
    """`python -m mnist_sum train --preset fast`, timed from outside: start-up, training, scoring, saving."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "fast.pt"
        started = time.perf_counter()
        cli = ["-c", CHILD_PREFIX + "import sys; from mnist_sum.cli import main; sys.exit(main())"] \
            if CHILD_PREFIX else ["-m", "mnist_sum"]
        result = subprocess.run([sys.executable, *cli, "train", "--preset", "fast", "--out", str(out), "--json"],
                                check=True, capture_output=True, text=True)
        wall = time.perf_counter() - started
    last = json.loads(result.stdout)["history"][-1]  # the last epoch is scored on the whole test set
    return {"wall_seconds": round(wall, 1), "training_seconds": last["elapsed_s"],
            "digit_accuracy": last["digit_accuracy"], "sum_accuracy": last["sum_accuracy"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--quick", action="store_true", help="skip the time-to-accuracy training run")
    parser.add_argument("--compile", action="store_true", help="also time SumNet under torch.compile")
    parser.add_argument("--out", type=Path, help="where to write the JSON (default: benchmarks/results/speed_<device>"
                        "[_<precision>][_quick].json); a second machine of the same kind keeps its own file")
    parser.add_argument("--float32", action="store_true", help="train in float32 even where this CPU has bfloat16 "
                        "units, as a CPU without them would")
    args = parser.parse_args()
    if args.float32:
        force_float32()
    device = pick_device(args.device)
    torch.manual_seed(0)
    cpu = f"{cpu_name()}, {torch.get_num_threads()} threads"
    name = torch.cuda.get_device_name() if device.type == "cuda" else cpu
    print(f"device: {name}; precision: {Precision.for_device(device)}; torch {torch.__version__}", file=sys.stderr)

    networks = [("reference (as published: float32)", ReferenceNet, False),
                ("reference, with our fast path", ReferenceNet, True),
                ("SumNet (default, fast path)", SumNet, True)]
    if args.compile:
        networks.append(("SumNet, torch.compile", SumNet, True))
    # A shared machine speeds up and slows down; timing the networks in turns,
    # round after round, lets such swings fall on all of them alike.
    models = {label: make().to(device) for label, make, _ in networks}
    timed = {label: torch.compile(m) if "compile" in label else m for label, m in models.items()}
    times = {label: [] for label in models}
    for round_ in range(ROUNDS):
        for label, _, fast in networks:
            steps = 4 if "reference" in label else 16  # a reference step is 20-40x longer
            times[label] += step_times(timed[label], device, args.batch_size, fast, steps=steps,
                                       warmup=4 if round_ == 0 else 1)  # compiling happens in round 0's warm-up
    rows = {}
    for label, model in models.items():
        seconds = statistics.median(times[label])
        rows[label] = {"parameters": sum(p.numel() for p in model.parameters()),
                       "multiply_adds_per_image": multiply_adds(model, device),
                       "step_seconds": round(seconds, 5), "images_per_second": round(args.batch_size / seconds),
                       "steps_timed": len(times[label])}
        print(f"  {label}: {1000 * seconds:.1f} ms/step (median of {len(times[label])})", file=sys.stderr)
    ours = rows["SumNet (default, fast path)"]["step_seconds"]
    for row in rows.values():
        row["slower_than_sumnet"] = round(row["step_seconds"] / ours, 1)

    sweep = {}
    for batch_size in (128, 256, 512):
        seconds = step_seconds(SumNet().to(device), device, batch_size, fast=True)
        sweep[batch_size] = round(batch_size / seconds)

    result = {"device": name, "precision": str(Precision.for_device(device)), "torch": str(torch.__version__),
              "batch_size": args.batch_size,
              "networks": rows, "sumnet_images_per_second_by_batch_size": sweep}
    if not args.quick:
        result["startup_seconds"] = startup_seconds()
        print(f"  start-up to a ready model and data: {result['startup_seconds']} s", file=sys.stderr)
        result["whole_fast_command"] = whole_fast_command()
        print(f"  train --preset fast, whole command: {result['whole_fast_command']}", file=sys.stderr)
        result["peer_one_epoch"] = {}
        for layout, fast in (("as published (NCHW)", False), ("with our channels-last layout", True)):
            result["peer_one_epoch"][layout] = peer_epoch(device, 0, fast)
            print(f"  peer recipe, {layout}: {result['peer_one_epoch'][layout]}", file=sys.stderr)
        result["time_to_accuracy_clock_stopped_for"] = "the probes, and train()'s scoring of each epoch"
        result["time_to_accuracy"] = {}
        for preset in PRESETS:
            reached = time_to_accuracy(device, preset, probe_every=PROBE_EVERY[preset])
            result["time_to_accuracy"][preset] = {f"{100 * t:.1f}%": hit for t, hit in reached.items()}

    command = " ".join(["python", *sys.argv])
    print(f"\nMeasured on {name} with `{command}`, batch {args.batch_size}:\n")
    print("| network | parameters | multiply-adds / image | train step (ms) | images / s | step time vs SumNet |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, row in rows.items():
        print(f"| {label} | {row['parameters']:,} | {row['multiply_adds_per_image'] / 1e6:.1f} M | "
              f"{1000 * row['step_seconds']:.1f} | {row['images_per_second']:,} | {row['slower_than_sumnet']}x |")
    print("\nSumNet images/s by batch size: " + ", ".join(f"{b}: {v:,}" for b, v in sweep.items()))
    for preset, reached in result.get("time_to_accuracy", {}).items():
        print(f"\n--preset {preset}, time to accuracy on both heads (test set, the saved model, clock stopped "
              f"while probing every {PROBE_EVERY[preset]} steps and while train() scores each epoch):")
        for target in ("99.0%", "99.5%"):
            hit = reached.get(target)
            print(f"  {target}: " + (f"{hit['seconds']} s of training (step {hit['step']})" if hit else
                                     "not reached in the preset's run"))

    if not args.quick:
        print(f"\nStart-up of the command to its first step (imports, MNIST read and checked, sets built): "
              f"{result['startup_seconds']} s")
        whole = result["whole_fast_command"]
        print(f"`python -m mnist_sum train --preset fast`, whole command: {whole['wall_seconds']} s, of which "
              f"{whole['training_seconds']} s training; test digit {100 * whole['digit_accuracy']:.2f}%, "
              f"sum {100 * whole['sum_accuracy']:.2f}%")
        for layout, run in result["peer_one_epoch"].items():
            print(f"Peer recipe (tuomaso/train_mnist_fast, digit only), one epoch {layout}: {run['seconds']} s, "
                  f"test digit {100 * run['digit_accuracy']:.2f}%")

    quick = "_quick" if args.quick else ""
    out = args.out or Path("benchmarks/results") / f"speed_{device.type}{precision_suffix(device)}{quick}.json"
    write_json(out, result)
    print(f"\nwrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
