"""The trained weights that ship inside the package: measured again here, not taken on trust."""

import json

import torch

from mnist_sum import MNISTRandomNumber, evaluate, load_model
from mnist_sum.machinery.checkpoint import SHIPPED


def test_the_shipped_weights_score_what_their_record_says(data_dir):
    """Re-scored on the test set, in float32, they give the record's accuracy; another CPU's float32
    kernels may round differently, so up to two test images either way."""
    record = json.loads(SHIPPED.with_suffix(".json").read_text())
    metrics = evaluate(load_model(SHIPPED), MNISTRandomNumber(train=False, root=data_dir))
    for key, recorded in record["test"].items():
        assert abs(metrics[key] - recorded) <= 2 / 10_000, key  # two images (twenty of the 100,000 pairs)
    assert record["command"].startswith("python -m mnist_sum train --seed 0")
    assert record["size_bytes"] == SHIPPED.stat().st_size < 1_000_000


def test_the_shipped_weights_are_weights_only_and_carry_no_training_state():
    checkpoint = torch.load(SHIPPED, weights_only=True)  # refuses anything but tensors and plain data
    assert checkpoint["training_state"] is None
    assert checkpoint["config"] == {"adder": "learned", "width": 16, "hidden": 128,
                                    "dropout": checkpoint["train_config"]["dropout"]}
    assert [h["epoch"] for h in checkpoint["metrics"]["history"]] == list(range(1, 1 + len(
        checkpoint["metrics"]["history"])))
