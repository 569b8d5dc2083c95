"""Train the weights that ship inside the package, and score them once on the test set.

    python scripts/make_weights.py            # the default recipe, seed 0

It runs `python -m mnist_sum train --seed 0` and writes mnist_sum/weights/sumnet.pt:
the weights, the per-epoch history, the settings and the test scores.
"""

import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from mnist_sum import SHIPPED, MNISTRandomNumber, evaluate, load_model, save_model

with tempfile.TemporaryDirectory() as folder:
    out = Path(folder) / "sumnet.pt"
    subprocess.run([sys.executable, "-m", "mnist_sum", "train", "--seed", "0", "--out", str(out)], check=True)
    checkpoint = torch.load(out, weights_only=True)
    model = load_model(out)
test = evaluate(model, MNISTRandomNumber(train=False))
save_model(model, SHIPPED, history=checkpoint["history"], settings=checkpoint["settings"], test=test)
print(f"wrote {SHIPPED}: {test}")
