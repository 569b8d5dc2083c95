"""Make the trained weights that ship inside the package, and record how they were made.

    python scripts/make_weights.py                  # the default recipe, seed 0
    python scripts/make_weights.py --preset fast    # any `train` options pass through

It runs the project's own `python -m mnist_sum train --seed 0`, keeps the weights,
settings and per-epoch history of the checkpoint (not the optimiser state that
`--resume` needs), scores them once on the test set, and writes
mnist_sum/weights/sumnet.pt with mnist_sum/weights/sumnet.json beside it: the
command, the machine, the precision training ran in, and the test accuracy.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from record import cpu_name, write_json  # noqa: E402

from mnist_sum import MNISTRandomNumber, evaluate, save_checkpoint  # noqa: E402
from mnist_sum.machinery.checkpoint import SHIPPED, model_from_checkpoint, read_checkpoint  # noqa: E402
from mnist_sum.machinery.runtime import Precision, pick_device  # noqa: E402


def main():
    options = ["--seed", "0", *sys.argv[1:]]
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "sumnet.pt"
        command = [sys.executable, "-m", "mnist_sum", "train", *options, "--out", str(out)]
        started = time.perf_counter()
        subprocess.run(command, check=True)
        seconds = time.perf_counter() - started
        checkpoint = read_checkpoint(out)
    model = model_from_checkpoint(checkpoint).eval()
    metrics = evaluate(model, MNISTRandomNumber(train=False))
    scores = {key: metrics[key] for key in ("digit_accuracy", "sum_accuracy", "sum_accuracy_all_pairs")}
    save_checkpoint(SHIPPED, model, metrics={"history": checkpoint["metrics"]["history"], "test": scores},
                    train_config=checkpoint["train_config"])
    device = pick_device()
    record = {"command": " ".join(["python -m mnist_sum train", *options]), "made_by": "python scripts/make_weights.py "
              + " ".join(sys.argv[1:]), "machine": cpu_name() if device.type == "cpu" else torch.cuda.get_device_name(),
              "precision": str(Precision.for_device(device)), "torch": torch.__version__,
              "wall_seconds": round(seconds, 1), "threads": torch.get_num_threads(),
              "load_average_at_end": round(os.getloadavg()[0], 1), "size_bytes": SHIPPED.stat().st_size, "test": scores}
    write_json(SHIPPED.with_suffix(".json"), record)
    print(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
