"""The package's shape: settings in one place, a training step in plain PyTorch, evaluation that reads
each image once."""

import re
from dataclasses import fields

import pytest
import torch
from torch.utils.data import DataLoader

import mnist_sum
from mnist_sum import MNISTRandomNumber, SumNet, TrainConfig, evaluate, train, train_step
from mnist_sum import training as train_module
from mnist_sum.cli import build_parser
from mnist_sum.config import PRESETS, make_config

from conftest import tiny_train


def test_the_step_is_plain_pytorch_and_does_what_a_hand_written_step_does(data_dir):
    """A DataLoader batch and a stock optimiser are all train_step needs; its update equals
    forward, the two NLL losses, backward and step written out by hand."""
    batch = next(iter(DataLoader(MNISTRandomNumber(train=False, root=data_dir, limit=64), batch_size=32)))
    torch.manual_seed(0)
    ours, by_hand = SumNet(), SumNet()
    by_hand.load_state_dict(ours.state_dict())
    ours_optimizer = torch.optim.SGD(ours.parameters(), lr=0.1)
    hand_optimizer = torch.optim.SGD(by_hand.parameters(), lr=0.1)

    loss = train_step(ours, batch, ours_optimizer)

    (images, numbers), (digits, sums) = batch
    digit_log_probs, sum_log_probs = by_hand(images, numbers)
    hand_loss = torch.nn.functional.nll_loss(digit_log_probs, digits) + \
        torch.nn.functional.nll_loss(sum_log_probs, sums)
    hand_optimizer.zero_grad()
    hand_loss.backward()
    hand_optimizer.step()

    assert torch.allclose(loss, hand_loss.detach())
    for (name, a), b in zip(ours.state_dict().items(), by_hand.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), atol=1e-6), name
    assert not torch.equal(ours.digit_net.features[0][0].weight, SumNet().digit_net.features[0][0].weight)


@pytest.mark.parametrize("tta, views", [(False, 1), (True, 5)])
def test_evaluate_runs_the_cnn_once_per_image(data_dir, tta, views):
    """All 10 numbers are added to each image's digit probabilities; the image is read once (five views with TTA)."""
    model = SumNet().eval()
    read = []
    model.digit_net.register_forward_hook(lambda module, inputs, output: read.append(len(inputs[0])))
    test_set = MNISTRandomNumber(train=False, root=data_dir, limit=300)
    metrics = evaluate(model, test_set, tta=tta)
    assert "sum_accuracy_all_pairs" in metrics
    assert sum(read) == views * len(test_set)


def test_every_setting_is_a_train_keyword_and_a_cli_option_with_its_default_in_help():
    train_parser = build_parser()._subparsers._group_actions[0].choices["train"]
    help_text = " ".join(train_parser.format_help().split()).split("settings (mnist_sum.TrainConfig):")[1]
    for f in fields(TrainConfig):
        option = "--" + f.name.replace("_", "-")
        assert option in help_text, option
        if f.default not in (None, ()):
            shown = re.search(re.escape(option) + r" [^-].*?\(default: ([^)]*)\)", help_text)
            assert shown and shown.group(1) == str(f.default), (option, shown and shown.group(1))
        make_config(**{f.name: f.default})  # a keyword train() accepts


def test_a_setting_changed_on_the_command_line_is_stored_in_the_checkpoint(data_dir, tmp_path, cli):
    out = tmp_path / "m.pt"
    result = cli("train", "--epochs", "1", "--limit", "300", "--score-limit", "100", "--width", "8",
                 "--weight-decay", "0.0005", "--held-out-pairs", "3+4", "--data-dir", data_dir, "--out", out,
                 "--device", "cpu")
    assert result.returncode == 0, result.stderr
    saved = torch.load(out, weights_only=True)
    assert saved["train_config"] == {**TrainConfig().to_dict(), "epochs": 1, "limit": 300, "score_limit": 100,
                                     "width": 8, "weight_decay": 0.0005, "held_out_pairs": ((3, 4),)}
    assert saved["config"]["width"] == 8
    assert saved["state_dict"]["digit_net.features.0.0.weight"].shape[0] == 8


def test_unknown_settings_are_refused():
    with pytest.raises(mnist_sum.MnistSumError, match="unknown setting 'widht'"):
        train(widht=8)


def test_momentum_follows_the_configured_cycle():
    config = TrainConfig(momentum_max=0.97, momentum_min=0.8, warmup_fraction=0.25)
    optimizer, schedule = train_module.make_optimizer(SumNet(), config, total_steps=100)
    momenta = []
    for _ in range(100):
        momenta.append(optimizer.param_groups[0]["momentum"])
        optimizer.step()
        schedule.step()
    assert momenta[0] == pytest.approx(0.97)
    assert min(momenta) == pytest.approx(0.8, abs=1e-3)
    assert momenta.index(min(momenta)) in (24, 25)


def test_the_checkpoint_stores_history_settings_and_what_resume_needs(data_dir, tmp_path):
    out = tmp_path / "m.pt"
    tiny_train(data_dir, out, epochs=2, average_decay=0.9)
    saved = torch.load(out, weights_only=True)
    assert [h["epoch"] for h in saved["metrics"]["history"]] == [1, 2]
    assert set(saved["training_state"]) == {"model", "average", "optimizer", "schedule", "random"}
    assert saved["train_config"]["epochs"] == 2


def test_a_preset_sets_the_defaults_and_options_given_override_it(data_dir, tmp_path, cli):
    out = tmp_path / "m.pt"
    result = cli("train", "--preset", "fast", "--epochs", "3", "--limit", "300", "--score-limit", "100",
                 "--data-dir", data_dir, "--out", out, "--device", "cpu")
    assert result.returncode == 0, result.stderr
    saved = torch.load(out, weights_only=True)["train_config"]
    assert saved == {**PRESETS["fast"].to_dict(), "epochs": 3, "limit": 300, "score_limit": 100}
    assert f"(default: {PRESETS['fast'].epochs})" in cli("train", "--preset", "fast", "--help").stdout
