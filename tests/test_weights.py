"""The weights shipped in the package re-score to the test scores recorded with them."""

import pytest

from mnist_sum import MNISTRandomNumber, evaluate, load_model
from mnist_sum.model import load_checkpoint


def test_the_shipped_weights_score_what_their_record_says(data_dir, shipped):
    record = load_checkpoint(shipped)["test"]
    metrics = evaluate(load_model(shipped), MNISTRandomNumber(train=False, root=data_dir))
    for key in ("digit_accuracy", "sum_accuracy", "sum_accuracy_all_pairs"):
        # another CPU's float32 kernels may round a near-tie the other way: one image in 10,000
        assert metrics[key] == pytest.approx(record[key], abs=1e-4), key
    assert metrics["digit_accuracy"] > 0.995 and shipped.stat().st_size < 1_000_000
