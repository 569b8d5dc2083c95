"""The command line as a user runs it: the main jobs, and one clear line for every bad input."""

import json
import os

import pytest
import torch
from PIL import Image

from conftest import REPO, run_cli

SAMPLE = REPO / "images" / "digit_7.png"


class Payload:
    """What a malicious checkpoint carries: unpickling it would create `marker`."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad")
    (folder / "empty.png").write_bytes(b"")
    (folder / "text.png").write_text("not an image")
    (folder / "truncated.png").write_bytes(SAMPLE.read_bytes()[:300])
    Image.new("L", (50, 50), 255).save(folder / "blank.png")
    (folder / "empty.pt").write_bytes(b"")
    (folder / "noise.pt").write_bytes(os.urandom(5000))
    torch.save({"config": {"adder": "learned"}, "state_dict": {"x": torch.zeros(3)}}, folder / "foreign.pt")
    torch.save({"config": Payload(folder / "ran")}, folder / "pickled.pt")
    (folder / "a_folder").mkdir()
    return folder


CASES = {
    "missing image": (["predict", "{f}/none.png", "3"], "not found"),
    "empty image": (["predict", "{f}/empty.png", "3"], "cannot read image"),
    "text as image": (["predict", "{f}/text.png", "3"], "cannot read image"),
    "truncated image": (["predict", "{f}/truncated.png", "3"], "cannot read image"),
    "blank image": (["predict", "{f}/blank.png", "3"], "no digit"),
    "number 10": (["predict", str(SAMPLE), "10"], "0 to 9"),
    "number -1": (["predict", str(SAMPLE), "-1"], "0 to 9"),
    "number three": (["predict", str(SAMPLE), "three"], "0 to 9"),
    "missing checkpoint": (["evaluate", "--checkpoint", "{f}/none.pt"], "not found"),
    "empty checkpoint": (["evaluate", "--checkpoint", "{f}/empty.pt"], "not a checkpoint"),
    "random bytes": (["predict", str(SAMPLE), "3", "--checkpoint", "{f}/noise.pt"], "not a checkpoint"),
    "foreign weights": (["predict", str(SAMPLE), "3", "--checkpoint", "{f}/foreign.pt"], "does not hold a sumnet"),
    "pickled code": (["predict", str(SAMPLE), "3", "--checkpoint", "{f}/pickled.pt"], "pickled python code"),
    "zero epochs": (["train", "--epochs", "0"], "positive integer"),
    "negative batch size": (["train", "--batch-size", "-5"], "positive integer"),
    "out is a folder": (["train", "--preset", "fast", "--out", "{f}/a_folder"], "is a folder"),
    "no data": (["evaluate", "--data-dir", "{f}/a_folder"], "mnist is not in"),
    "unknown command": (["fly"], "invalid choice"),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_input_ends_in_one_clear_line(files, case, tmp_path):
    args, words = CASES[case]
    result = run_cli(*[a.format(f=files) for a in args], cwd=tmp_path)
    lines = result.stderr.replace("mnist_sum: using the shipped weights\n", "").splitlines()
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1 and words in lines[0].lower(), result.stderr
    assert not (files / "ran").exists() and list(tmp_path.iterdir()) == []  # no code run, nothing half-written


def test_train_then_evaluate_and_predict_with_the_checkpoint(data_dir, tmp_path):
    out = tmp_path / "fast.pt"
    trained = run_cli("train", "--preset", "fast", "--limit", "2000", "--epochs", "1", "--out", out)
    assert trained.returncode == 0, trained.stderr
    assert trained.stdout.splitlines()[0].startswith("epoch 1/1: train loss")
    metrics = json.loads(run_cli("evaluate", "--checkpoint", out, "--json").stdout)
    assert {"digit_accuracy", "sum_accuracy", "sum_accuracy_all_pairs"} <= set(metrics)
    result = json.loads(run_cli("predict", SAMPLE, "4", "--checkpoint", out, "--json").stdout)
    assert set(result) == {"digit", "sum", "digit_probability", "sum_probability", "number"}


def test_with_no_checkpoint_named_the_shipped_weights_answer_and_say_so(tmp_path):
    result = run_cli("predict", SAMPLE, "4", cwd=tmp_path)
    assert result.stdout.startswith("digit 7") and "= 11" in result.stdout
    assert result.stderr == "mnist_sum: using the shipped weights\n"
