"""Training end to end on real MNIST (CPU): accuracy, reproducibility, interruption, numerical faults."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch
import torch.nn.functional as F

from mnist_sum import MnistSumError, SumNet, evaluate, load_model, train
from mnist_sum import evaluation as evaluation_module
from mnist_sum import training as train_module
from mnist_sum.data import MNISTRandomNumber
from mnist_sum.machinery import runtime
from mnist_sum.model import DigitCNN, LearnedAdder

from conftest import REPO, tiny_train


@pytest.mark.slow
def test_exact_adder_sum_accuracy_follows_the_digit(data_dir, tmp_path):
    model, _ = tiny_train(data_dir, tmp_path / "e.pt", epochs=2, limit=6000, adder="exact")
    metrics = evaluate(model, MNISTRandomNumber(train=False, root=data_dir, limit=2000))
    assert metrics["digit_accuracy"] > 0.85
    # the exact adder's sum is wrong only where the digit is: never more accurate than the digit
    assert metrics["sum_accuracy_all_pairs"] <= metrics["digit_accuracy"] + 1e-6  # digit_accuracy is a float32 mean
    assert metrics["sum_accuracy_all_pairs"] > metrics["digit_accuracy"] - 0.002


def _short_run(data_dir, out, seed=0):
    return tiny_train(data_dir, out, epochs=2, limit=600, seed=seed, average_decay=0.9)


@pytest.mark.slow
def test_same_seed_same_weights_and_metrics(data_dir, tmp_path):
    first, history_1 = _short_run(data_dir, tmp_path / "a.pt")
    second, history_2 = _short_run(data_dir, tmp_path / "b.pt")
    other, _ = _short_run(data_dir, tmp_path / "c.pt", seed=1)
    strip = lambda history: [{k: v for k, v in h.items() if k != "elapsed_s"} for h in history]  # noqa: E731
    assert strip(history_1) == strip(history_2)
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values()):
        assert torch.equal(a, b), name
    assert any(not torch.equal(a, c) for a, c in zip(first.state_dict().values(), other.state_dict().values()))


def test_a_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(data_dir, tmp_path):
    out = tmp_path / "m.pt"
    real_loss, calls = train_module.loss_fn, []

    def loss_that_turns_nan(*args):
        calls.append(1)
        loss = real_loss(*args)
        return loss * float("nan") if len(calls) > 4 else loss  # epoch 1 has 3 steps
    with pytest.raises(MnistSumError, match="loss became nan in epoch 2.*epoch 1 is kept"):
        tiny_train(data_dir, out, epochs=3, limit=600, loss_fn=loss_that_turns_nan)
    checkpoint = torch.load(out, weights_only=True)
    assert [h["epoch"] for h in checkpoint["metrics"]["history"]] == [1]
    assert all(torch.isfinite(t).all() for t in checkpoint["state_dict"].values() if t.is_floating_point())


def _cli_train(out, data_dir, *extra):
    return [sys.executable, "-m", "mnist_sum", "train", "--epochs", "3", "--limit", "3000", "--seed", "4",
            "--score-limit", "500", "--average-decay", "0.9", "--device", "cpu", "--data-dir", str(data_dir),
            "--out", str(out), *extra]


class OwnSumNet(torch.nn.Module):
    """A network written outside the package, as the notebook writes it: SumNet's parts, its own forward."""

    def __init__(self):
        super().__init__()
        self.digit_net, self.adder = DigitCNN(), LearnedAdder()

    def forward(self, images, numbers_onehot):
        digit_log_probs = self.digit_net(images)
        return digit_log_probs, self.adder(digit_log_probs.exp(), numbers_onehot)


def test_a_model_and_a_loss_of_ones_own_train_as_the_package_s_would_and_save_as_a_sumnet(data_dir, tmp_path):
    calls = []

    def own_loss(digit_log_probs, sum_log_probs, digits, sums):
        calls.append(len(digits))
        return F.nll_loss(digit_log_probs, digits) + F.nll_loss(sum_log_probs, sums)

    package_model, package_history = tiny_train(data_dir, tmp_path / "package.pt", epochs=2)
    torch.manual_seed(0)  # the seed train() gives the package's network
    own = OwnSumNet()
    model, history = tiny_train(data_dir, tmp_path / "own.pt", epochs=2, model=own, loss_fn=own_loss)
    assert calls == [256, 44] * 2  # every step went through the given loss (300 images, batches of 256)
    strip = lambda history: [{k: v for k, v in h.items() if k != "elapsed_s"} for h in history]  # noqa: E731
    assert strip(history) == strip(package_history)
    assert isinstance(model, SumNet)
    saved = load_model(tmp_path / "own.pt")
    for (name, a), b, c in zip(package_model.state_dict().items(), model.state_dict().values(),
                               saved.state_dict().values()):
        assert torch.equal(a, b) and torch.equal(a, c), name
    assert all(torch.equal(a, b) for a, b in zip(own.state_dict().values(), model.state_dict().values()))


class ArgmaxSumNet(OwnSumNet):
    """SumNet's weights, another computation: the adder gets the digit's argmax instead of its probabilities."""

    def forward(self, images, numbers_onehot):
        digit_log_probs = self.digit_net(images)
        return digit_log_probs, self.adder(F.one_hot(digit_log_probs.argmax(1), 10).float(), numbers_onehot)


def test_a_model_that_computes_something_other_than_sumnet_is_refused_before_training(data_dir, tmp_path):
    """train() scores and saves every epoch as SumNet: a network it would mis-score is refused in one line."""
    with pytest.raises(MnistSumError, match=r"^model computes something other than SumNet with the same weights.*"
                                            r"keep SumNet's forward$"):
        tiny_train(data_dir, tmp_path / "m.pt", model=ArgmaxSumNet())
    assert not (tmp_path / "m.pt").exists()


def test_a_model_that_does_not_hold_sumnet_s_weights_is_refused_in_one_line(data_dir, tmp_path):
    with pytest.raises(MnistSumError, match=r"model must hold the weights of SumNet\(adder='learned', width=16.*"
                                            r"digit_net.features.0.0.weight: \(8, 1, 3, 3\) where SumNet has "
                                            r"\(16, 1, 3, 3\).*pass the settings it was built with"):
        tiny_train(data_dir, tmp_path / "m.pt", model=SumNet(width=8))
    assert not (tmp_path / "m.pt").exists()


def test_a_signal_stops_training_at_the_next_step_boundary(data_dir, tmp_path, monkeypatch):
    handler_before = signal.getsignal(signal.SIGINT)
    augment, augmented, finished = train_module.augment, [], []

    def augment_then_interrupt_in_step_3(*args):
        augmented.append(1)
        if len(augmented) == 3:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C at the start of step 3
        return augment(*args)

    monkeypatch.setattr(train_module, "augment", augment_then_interrupt_in_step_3)
    with pytest.raises(train_module.TrainingInterrupted, match="--resume"):
        tiny_train(data_dir, tmp_path / "m.pt", limit=2560, on_step=lambda step, model: finished.append(step))
    assert finished == [1, 2, 3]  # step 3 still finished; step 4 never began
    assert signal.getsignal(signal.SIGINT) is handler_before


@pytest.mark.slow
def test_killed_training_resumes_to_identical_metrics(data_dir, tmp_path):
    """SIGTERM (a closed Colab tab, `kill`) in a fresh process, then --resume: the same run as one never cut.
    Ctrl-C goes through the same handler; the test above sends it in this process."""
    whole = tmp_path / "whole.pt"
    done = subprocess.run(_cli_train(whole, data_dir), capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr
    cut = tmp_path / "cut.pt"
    process = subprocess.Popen(_cli_train(cut, data_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, cwd=REPO)
    deadline = time.time() + 240
    while not cut.exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert cut.exists(), "the first epoch's checkpoint never appeared"
    process.send_signal(signal.SIGTERM)  # during epoch 2
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "--resume" in stderr
    saved = torch.load(cut, weights_only=True)["metrics"]["history"]
    assert len(saved) >= 1, "a finished epoch was lost"

    resumed = subprocess.run(_cli_train(cut, data_dir, "--resume"), capture_output=True, text=True,
                             cwd=REPO, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    a, b = torch.load(whole, weights_only=True), torch.load(cut, weights_only=True)
    strip = lambda history: [{k: v for k, v in h.items() if k != "elapsed_s"} for h in history]  # noqa: E731
    assert strip(a["metrics"]["history"]) == strip(b["metrics"]["history"])
    for name, tensor in a["state_dict"].items():
        assert torch.equal(tensor, b["state_dict"][name]), name


@pytest.mark.slow
def test_in_a_notebook_progress_goes_to_one_display_that_is_emptied_at_the_end(data_dir, tmp_path, monkeypatch,
                                                                                capfd):
    """A saved notebook keeps what a display last showed: one empty display, no bar frames in its stream."""
    import IPython.display

    displays = []

    class Handle:
        def __init__(self):
            self.frames = []

        def update(self, data, raw):
            self.frames.append(data["text/plain"])

    def fake_display(data, raw, display_id):
        displays.append(Handle())
        return displays[-1]
    monkeypatch.setattr(runtime, "_in_notebook", lambda: True)
    monkeypatch.setattr(IPython.display, "display", fake_display)
    train(epochs=2, limit=1024, score_limit=200, data_dir=data_dir, out=tmp_path / "m.pt", device="cpu", log=print)
    assert len(displays) == 1
    assert any("epoch 2/2" in frame for frame in displays[0].frames), "the bar was drawn into the display"
    assert displays[0].frames[-1] == "", "and emptied when it closed"
    out, err = capfd.readouterr()
    assert [line for line in out.splitlines() if line.startswith("epoch")] == [
        line for line in out.splitlines() if line.strip()], out
    assert "it/s" not in err and "it/s" not in out


@pytest.mark.slow
def test_with_validation_epochs_are_scored_on_it_and_the_test_set_once_at_the_end(data_dir, tmp_path, monkeypatch):
    scored, lines = [], []
    real_evaluate = evaluation_module.evaluate
    monkeypatch.setattr(evaluation_module, "evaluate", lambda model, dataset, *a, **k: scored.append(
        (len(dataset), dataset.train)) or real_evaluate(model, dataset, *a, **k))
    _, history = train(epochs=2, limit=1000, validation=500, data_dir=data_dir, out=tmp_path / "m.pt",
                       device="cpu", progress=False, log=lines.append)
    assert scored == [(500, False), (500, False), (10_000, False)]
    assert [h["scored_on"] for h in history] == ["validation", "validation"] and "validation_loss" in history[0]
    assert "validation loss" in lines[0] and lines[-1].startswith("test set, scored once at the end")


def test_augmentation_set_to_nothing_skips_the_resampling_and_anything_else_uses_it(data_dir, tmp_path, monkeypatch):
    """The fast preset turns augmentation off: resampling every image by the identity would cost time for nothing."""
    calls = []

    def counting_augment(images, generator, *bounds):
        calls.append(bounds)
        return images

    monkeypatch.setattr(train_module, "augment", counting_augment)
    tiny_train(data_dir, tmp_path / "off.pt", rotate_degrees=0.0, zoom=0.0, shift_px=0.0, batch_size=100)
    assert calls == []
    tiny_train(data_dir, tmp_path / "on.pt", rotate_degrees=0.0, zoom=0.0, shift_px=1.0, batch_size=100)
    assert calls == [(0.0, 0.0, 1.0)] * 3  # 300 images, 3 batches
