"""Precision by GPU generation (with faked device properties), and evaluation that follows the model's device."""

import pytest
import torch

from mnist_sum import device as device_module
from mnist_sum import evaluation, train
from mnist_sum import training as train_module
from mnist_sum.data import MNISTRandomNumber
from mnist_sum.device import Precision, autocast_dtype


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
    monkeypatch.setattr(device_module, "_cpu_has_fast_bf16", lambda: fast_bf16)
    assert autocast_dtype(torch.device("cpu")) == expected


@pytest.mark.parametrize("dtype", [None, torch.bfloat16, torch.float16])
def test_training_uses_the_chosen_precision(data_dir, tmp_path, monkeypatch, dtype):
    """Whatever autocast_dtype picks is what the training step's forward pass runs under,
    and float16, alone, gets a gradient scaler that really scales."""
    monkeypatch.setattr(device_module, "autocast_dtype", lambda device: dtype)
    seen, scalers = set(), []
    real_loss, real_scaler = train_module.loss_fn, Precision.grad_scaler

    def recording_loss(*args):
        enabled = torch.is_autocast_enabled("cpu")
        seen.add(torch.get_autocast_dtype("cpu") if enabled else None)
        return real_loss(*args)

    def recording_scaler(self):
        scalers.append(real_scaler(self))
        return scalers[-1]
    monkeypatch.setattr(train_module, "loss_fn", recording_loss)
    monkeypatch.setattr(Precision, "grad_scaler", recording_scaler)
    train(epochs=1, limit=512, data_dir=data_dir, out=tmp_path / "m.pt", device="cpu", progress=False,
          log=lambda line: None)
    assert seen == {dtype}
    assert [s.is_enabled() for s in scalers] == [dtype == torch.float16]


class _Seen(Exception):
    pass


@pytest.mark.parametrize("function", ["predict_batches", "sum_accuracy_all_pairs", "evaluate"])
def test_evaluation_runs_on_the_models_device(data_dir, monkeypatch, function):
    """A model on another device (here the data-free 'meta' device) is evaluated there,
    not on a default device that differs from training's."""
    def record_device(dataset, batch_size, order_generator=None, device="cpu"):
        raise _Seen(device)
    monkeypatch.setattr(evaluation, "batches", record_device)
    model = train_module.SumNet().to("meta")
    with pytest.raises(_Seen) as seen:
        getattr(evaluation, function)(model, MNISTRandomNumber(train=False, root=data_dir))
    assert torch.device(seen.value.args[0]).type == "meta"


@pytest.mark.parametrize("function", ["predict_batches", "sum_accuracy_all_pairs", "evaluate"])
def test_evaluation_leaves_the_model_in_the_mode_it_found(data_dir, function):
    model = train_module.SumNet().train()
    getattr(evaluation, function)(model, MNISTRandomNumber(train=False, root=data_dir, limit=300))
    assert model.training
