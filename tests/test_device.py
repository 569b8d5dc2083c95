"""Precision by GPU generation (with faked device properties), training under it, and evaluation in float32."""

import pytest
import torch

from mnist_sum import MNISTRandomNumber, SumNet, evaluate, evaluation
from mnist_sum import training as train_module
from mnist_sum.data import batches
from mnist_sum.machinery import runtime
from mnist_sum.machinery.runtime import Precision, autocast_dtype

from conftest import tiny_train


@pytest.mark.parametrize("gpu, capability, expected", [
    ("H100", (9, 0), torch.bfloat16),
    ("A100", (8, 0), torch.bfloat16),
    ("T4 (Colab free tier)", (7, 5), torch.float16),
    ("V100", (7, 0), torch.float16),
    ("P100", (6, 0), torch.float16),
    ("GTX 1080, slow float16", (6, 1), None),
])
def test_precision_follows_the_gpu_generation(monkeypatch, gpu, capability, expected):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    # a T4 reports bfloat16 support through emulation; the choice must not rely on that
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    assert autocast_dtype(torch.device("cuda")) == expected, gpu


@pytest.mark.parametrize("fast_bf16, expected", [(True, torch.bfloat16), (False, None)])
def test_precision_on_a_cpu(monkeypatch, fast_bf16, expected):
    monkeypatch.setattr(runtime, "_cpu_has_fast_bf16", lambda: fast_bf16)
    assert autocast_dtype(torch.device("cpu")) == expected


@pytest.mark.parametrize("dtype", [None, pytest.param(torch.bfloat16, marks=pytest.mark.slow),
                                   pytest.param(torch.float16, marks=pytest.mark.slow)])
def test_training_uses_the_chosen_precision(data_dir, tmp_path, monkeypatch, dtype):
    """Whatever autocast_dtype picks is what the training step's forward pass runs under,
    and float16, alone, gets a gradient scaler that really scales."""
    monkeypatch.setattr(runtime, "autocast_dtype", lambda device: dtype)
    seen, precisions = set(), []
    real_loss, real_step = train_module.loss_fn, Precision.backward_and_step

    def recording_loss(*args):
        enabled = torch.is_autocast_enabled("cpu")
        seen.add(torch.get_autocast_dtype("cpu") if enabled else None)
        return real_loss(*args)

    def recording_step(self, loss, optimizer):
        precisions.append(self)
        return real_step(self, loss, optimizer)
    monkeypatch.setattr(Precision, "backward_and_step", recording_step)
    tiny_train(data_dir, tmp_path / "m.pt", loss_fn=recording_loss)
    assert seen == {dtype}
    assert {p.scaler.is_enabled() for p in precisions} == {dtype == torch.float16}


def test_evaluation_is_float32_whatever_precision_training_uses(data_dir, monkeypatch):
    """The number reported is the model's: on a CPU whose training runs in bfloat16, evaluate still
    gives exactly what a plain float32 loop over model(images, numbers) gives."""
    monkeypatch.setattr(runtime, "_cpu_has_fast_bf16", lambda: True)
    torch.manual_seed(0)
    model = SumNet().eval()
    test_set = MNISTRandomNumber(train=False, root=data_dir, limit=500)
    digit_right = sum_right = 0
    with torch.no_grad():
        for (images, numbers), (digits, sums) in batches(test_set, 100):
            digit_log_probs, sum_log_probs = model(images, numbers)
            digit_right += (digit_log_probs.argmax(1) == digits).sum().item()
            sum_right += (sum_log_probs.argmax(1) == sums).sum().item()
    metrics = evaluate(model, test_set, all_pairs=False)
    assert metrics["digit_accuracy"] == pytest.approx(digit_right / 500, abs=1e-7)
    assert metrics["sum_accuracy"] == pytest.approx(sum_right / 500, abs=1e-7)


@pytest.mark.parametrize("function", ["predict_batches", "sum_accuracy_all_pairs", "evaluate"])
def test_evaluation_leaves_the_model_in_the_mode_it_found(data_dir, function):
    model = SumNet().train()
    getattr(evaluation, function)(model, MNISTRandomNumber(train=False, root=data_dir, limit=300))
    assert model.training
