"""Checkpoints: round trips, atomic writes, and files that must be refused."""

import os

import pytest
import torch

from mnist_sum import SHIPPED, MnistSumError, SumNet, load_model, save_checkpoint
from mnist_sum.data import one_hot
from mnist_sum.machinery import checkpoint as checkpoint_module

from conftest import PickledPayload


@pytest.mark.parametrize("adder", ["learned", "exact"])
def test_round_trip_gives_the_same_predictions(tmp_path, adder):
    torch.manual_seed(0)
    model = SumNet(adder=adder).eval()
    path = tmp_path / "m.pt"
    save_checkpoint(path, model, metrics={"digit_accuracy": 0.5})
    loaded = load_model(path)
    assert not loaded.training
    assert loaded.config == model.config
    images = torch.randn(4, 1, 28, 28).clamp(-0.4, 2.8)
    numbers = one_hot(torch.tensor([0, 3, 7, 9]))
    for a, b in zip(model(images, numbers), loaded(images, numbers)):
        assert torch.equal(a, b)
    checkpoint = torch.load(path, weights_only=True)
    assert checkpoint["metrics"] == {"digit_accuracy": 0.5}
    assert set(checkpoint["versions"]) == {"python", "torch", "torchvision"}


def test_a_crash_mid_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "m.pt"
    save_checkpoint(path, SumNet())
    before = path.read_bytes()

    def crash(obj, f):
        f.write(b"half a checkpoint")
        raise OSError("disk full")
    monkeypatch.setattr(checkpoint_module.torch, "save", crash)
    with pytest.raises(MnistSumError, match="cannot write checkpoint .*disk full"):
        save_checkpoint(path, SumNet(adder="exact"))
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.pt"], "no temporary file may be left behind"


def test_a_pickled_payload_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "payload-ran"
    path = tmp_path / "evil.pt"
    good = SumNet()
    torch.save({"format": checkpoint_module.FORMAT, "config": good.config,
                "state_dict": good.state_dict(), "extra": PickledPayload(marker)}, path)
    with pytest.raises(MnistSumError, match="pickled Python objects"):
        load_model(path)
    assert not marker.exists(), "the payload ran"


def test_another_configuration_is_refused(tmp_path):
    path = tmp_path / "m.pt"
    save_checkpoint(path, SumNet(width=16))
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["config"]["width"] = 32  # weights of one shape, config of another
    torch.save(checkpoint, path)
    with pytest.raises(MnistSumError, match="does not match the SumNet architecture"):
        load_model(path)


@pytest.mark.parametrize("content, message", [
    (None, "not found"),
    (b"", "is empty"),
    (b"\x00\x01random bytes" * 50, "truncated or not a PyTorch file"),
])
def test_unreadable_files_get_one_clear_error(tmp_path, content, message):
    path = tmp_path / "m.pt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(MnistSumError, match=message):
        load_model(path)


def test_truncated_checkpoint_is_refused(tmp_path):
    path = tmp_path / "m.pt"
    save_checkpoint(path, SumNet())
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(MnistSumError, match="truncated"):
        load_model(path)


def test_a_checkpoint_of_an_older_format_names_the_version_and_the_fix(tmp_path):
    path = tmp_path / "old.pt"
    torch.save({"format": "mnist-sum-checkpoint/1", "config": {"adder": "learned", "width": 32, "hidden": 128},
                "state_dict": {}}, path)
    with pytest.raises(MnistSumError, match="another version of mnist_sum .*python -m mnist_sum train"):
        load_model(path)


def test_a_plain_state_dict_is_not_a_mnist_sum_checkpoint(tmp_path):
    path = tmp_path / "m.pt"
    torch.save(SumNet().state_dict(), path)
    with pytest.raises(MnistSumError, match="not a mnist_sum checkpoint"):
        load_model(path)


def test_a_loaded_model_has_channels_last_weights_as_in_training():
    # the layout training uses; evaluation of the test set runs about twice as fast on it
    model = load_model(SHIPPED)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.in_channels > 1]
    assert convs and all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs)
