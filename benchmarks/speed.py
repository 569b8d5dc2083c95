"""Training speed: a step of the reference network against one of SumNet, and the fast preset's whole command.

    python benchmarks/speed.py              # a minute or two on 2 CPU cores
    python benchmarks/speed.py --float32    # training in float32, as on a CPU without bfloat16 units
    python benchmarks/speed.py --batch-size 16 --rounds 1 --out /tmp/speed.json --limit 1000 --epochs 1   # smoke test

A step (augmentation, forward, backward, update of random images) of each network is timed in turns, round after
round, so that a shared machine's slow spells fall on both: the reference as published (float32), SumNet as `train`
runs it (channels-last, autocast). Then `python -m mnist_sum train --preset fast`, with any option speed.py does
not know, is timed from outside, and its last epoch's test accuracy read from its checkpoint. The run is appended to
benchmarks/results/speed_<machine>.json.
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from record import append, results_file, stamp

from mnist_sum import SumNet, training
from mnist_sum.data import augment, one_hot

# in this process and in the command it starts: training then takes the float32 path
FLOAT32 = "import mnist_sum.training; mnist_sum.training.autocast_dtype = lambda device: None\n"
REFERENCE, SUMNET = "reference (as published: float32)", "SumNet (default, fast path)"


class ReferenceNet(nn.Module):
    """The reference network as its README describes it, for timing beside SumNet (never trained here):
    seven convolutions (1-32-64, pool, 64-128-256, pool, 256-512-1024 unpadded, 1024-10 to 1x1)
    and fully connected 20-50-100-19 over [digit probs, one-hot number]."""

    def __init__(self):
        super().__init__()
        relu = lambda: nn.ReLU(inplace=True)  # noqa: E731
        self.convs = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), relu(), nn.Conv2d(32, 64, 3, padding=1), relu(), nn.MaxPool2d(2),
            nn.Conv2d(64, 128, 3, padding=1), relu(), nn.Conv2d(128, 256, 3, padding=1), relu(), nn.MaxPool2d(2),
            nn.Conv2d(256, 512, 3), relu(), nn.Conv2d(512, 1024, 3), relu(), nn.Conv2d(1024, 10, 3),
        )
        self.fc = nn.Sequential(nn.Linear(20, 50), relu(), nn.Linear(50, 100), relu(), nn.Linear(100, 19))

    def forward(self, images, numbers_onehot):
        digit_log_probs = F.log_softmax(self.convs(images).flatten(1).float(), dim=1)
        features = torch.cat([digit_log_probs.exp(), numbers_onehot], dim=1)
        return digit_log_probs, F.log_softmax(self.fc(features).float(), dim=1)


def stepper(model, fast, batch_size, device):
    """A function that runs n training steps and returns their times in seconds."""
    model = model.to(device, memory_format=torch.channels_last if fast else torch.contiguous_format).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    dtype = training.autocast_dtype(device) if fast else None
    autocast = torch.autocast(device.type, dtype=dtype) if dtype else None
    warps = torch.Generator().manual_seed(0)
    images = torch.randn(batch_size, 1, 28, 28, device=device)
    numbers, digits = torch.randint(10, (2, batch_size), device=device)
    labels = (digits, digits + numbers)

    def steps(n):
        times = []
        for _ in range(n):
            start = time.perf_counter()
            warped = augment(images, warps)
            warped = warped.contiguous(memory_format=torch.channels_last) if fast else warped
            training.train_step(model, ((warped, one_hot(numbers)), labels), optimizer, autocast=autocast)
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        return times
    return steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--float32", action="store_true", help="train in float32 where bfloat16 would be used")
    parser.add_argument("--out", help="default: benchmarks/results/speed_<machine>.json")
    args, train_options = parser.parse_known_args()
    if args.float32:
        exec(FLOAT32)
    device = training.pick_device()
    torch.manual_seed(0)
    models = {REFERENCE: ReferenceNet(), SUMNET: SumNet()}
    steppers = {label: stepper(model, label == SUMNET, args.batch_size, device) for label, model in models.items()}
    times = {label: [] for label in models}
    for round_ in range(args.rounds):
        for label, steps in steppers.items():
            steps(3 if round_ == 0 else 1)  # warm-up
            times[label] += steps(4 if label == REFERENCE else 16)  # a reference step is 20-40x longer
    networks = {label: {"parameters": sum(p.numel() for p in models[label].parameters()),
                        "step_seconds": round(statistics.median(t), 5), "steps_timed": len(t)}
                for label, t in times.items()}
    ratio = round(networks[REFERENCE]["step_seconds"] / networks[SUMNET]["step_seconds"], 1)

    train = ["train", "--preset", "fast", *train_options]
    python = ["-c", FLOAT32 + "import sys, mnist_sum.cli; sys.exit(mnist_sum.cli.main())"] if args.float32 else \
        ["-m", "mnist_sum"]
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        done = subprocess.run([sys.executable, *python, *train, "--out", f"{folder}/fast.pt"], capture_output=True,
                              text=True)
        wall = round(time.perf_counter() - started, 1)
        if done.returncode:
            sys.exit(f"speed.py: `python -m mnist_sum {' '.join(train)}` failed: {done.stderr.strip()}")
        last = torch.load(f"{folder}/fast.pt", weights_only=True)["history"][-1]
    fast = {"command": " ".join(["python -m mnist_sum", *train]), "wall_seconds": wall,
            "training_seconds": last["seconds"], "scored_on": last["scored_on"],
            "digit_accuracy": last["digit_accuracy"], "sum_accuracy": last["sum_accuracy"]}

    run = stamp(batch_size=args.batch_size, networks=networks, reference_step_over_sumnet=ratio,
                whole_fast_command=fast)
    append(args.out or results_file("speed"), [run])
    print(f"\n`{run['command']}` on {run['machine']}, {run['threads']} threads, SumNet in {run['precision']}:\n")
    for label, row in networks.items():
        print(f"- {label}: {1000 * row['step_seconds']:.1f} ms a training step of {args.batch_size} images "
              f"(median of {row['steps_timed']}), {row['parameters']:,} parameters")
    print(f"- the reference's step takes {ratio}x SumNet's\n- `{fast['command']}`: {wall} s in all, "
          f"{fast['training_seconds']} s of training; {fast['scored_on']} digit {100 * fast['digit_accuracy']:.2f}%, "
          f"sum {100 * fast['sum_accuracy']:.2f}%")


if __name__ == "__main__":
    main()
