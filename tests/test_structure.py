"""The package's shape: settings in one place, thin modules in reading order, a short training step."""

import ast
import inspect
import re
from dataclasses import fields

import pytest
import torch

import mnist_sum
from mnist_sum import TrainConfig, plots, train
from mnist_sum import checkpoint as checkpoint_module
from mnist_sum import training as train_module
from mnist_sum.config import make_config

from conftest import REPO, run_cli

# The reading order of mnist_sum/__init__.py: each module may import only the ones before it.
READING_ORDER = ["errors", "atomic", "config", "download", "data", "model", "reference", "device", "evaluation",
                 "checkpoint", "progress", "stopping", "augment", "averaging", "training", "predict", "demo",
                 "diagrams", "plots", "cli", "__init__", "__main__"]


def _imports(module):
    tree = ast.parse((REPO / "mnist_sum" / f"{module}.py").read_text())
    return {node.module.split(".")[0] for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module}


def test_every_module_is_in_the_reading_order_and_imports_only_earlier_ones():
    modules = sorted(p.stem for p in (REPO / "mnist_sum").glob("*.py"))
    assert sorted(READING_ORDER) == modules
    for position, module in enumerate(READING_ORDER):
        later = _imports(module) - set(READING_ORDER[:position])
        assert not later, f"{module} imports {later}, which come after it"


def test_modules_are_thin():
    for path in (REPO / "mnist_sum").glob("*.py"):
        lines = len(path.read_text().splitlines())
        assert lines <= 250, f"{path.name} has {lines} lines"


def test_the_training_step_is_short_enough_to_print():
    source = inspect.getsource(train_module.train_step)
    assert len(source.splitlines()) <= 20, source
    for word in ("augment", "loss_fn", "backward", "step"):
        assert word in source


def test_every_setting_is_a_train_keyword_and_a_cli_option_with_its_default_in_help():
    help_text = " ".join(run_cli("train", "--help").stdout.split()).split("settings (mnist_sum.TrainConfig):")[1]
    for f in fields(TrainConfig):
        option = "--" + f.name.replace("_", "-")
        assert option in help_text, option
        if f.default not in (None, ()):
            shown = re.search(re.escape(option) + r" [^-].*?\(default: ([^)]*)\)", help_text)
            assert shown and shown.group(1) == str(f.default), (option, shown and shown.group(1))
        make_config(**{f.name: f.default})  # a keyword train() accepts


def test_a_setting_changed_on_the_command_line_is_stored_in_the_checkpoint(data_dir, tmp_path):
    out = tmp_path / "m.pt"
    result = run_cli("train", "--epochs", "1", "--limit", "300", "--width", "8", "--weight-decay", "0.0005",
                     "--held-out-pairs", "3+4", "--data-dir", data_dir, "--out", out, "--device", "cpu")
    assert result.returncode == 0, result.stderr
    saved = torch.load(out, weights_only=True)
    assert saved["train_config"] == {**TrainConfig().to_dict(), "epochs": 1, "limit": 300, "width": 8,
                                     "weight_decay": 0.0005, "held_out_pairs": ((3, 4),)}
    assert saved["config"]["width"] == 8
    assert saved["state_dict"]["digit_net.features.0.0.weight"].shape[0] == 8


def test_unknown_settings_are_refused():
    with pytest.raises(mnist_sum.MnistSumError, match="unknown setting 'widht'"):
        train(widht=8)


def test_momentum_follows_the_configured_cycle():
    config = TrainConfig(momentum_max=0.97, momentum_min=0.8, warmup_fraction=0.25)
    model = mnist_sum.SumNet()
    optimizer, schedule = train_module.make_optimizer(model, config, total_steps=100)
    momenta = []
    for _ in range(100):
        momenta.append(optimizer.param_groups[0]["momentum"])
        optimizer.step()
        schedule.step()
    assert momenta[0] == pytest.approx(0.97)
    assert min(momenta) == pytest.approx(0.8, abs=1e-3)
    assert momenta.index(min(momenta)) in (24, 25)


def test_the_checkpoint_stores_history_and_settings_once(data_dir, tmp_path):
    out = tmp_path / "m.pt"
    train(epochs=2, limit=300, data_dir=data_dir, out=out, device="cpu", progress=False, log=lambda line: None)
    saved = torch.load(out, weights_only=True)
    assert [h["epoch"] for h in saved["metrics"]["history"]] == [1, 2]
    assert set(saved["training_state"]) == {"live_state_dict", "average_steps", "optimizer", "schedule", "generators"}
    assert saved["train_config"]["epochs"] == 2


def test_figures_read_the_checkpoint_once_and_predict_the_test_set_once(trained_checkpoint, data_dir, tmp_path,
                                                                        monkeypatch):
    loads, predictions = [], []
    real_load, real_predict = checkpoint_module.torch.load, plots.predict_batches
    monkeypatch.setattr(checkpoint_module.torch, "load", lambda *a, **k: loads.append(1) or real_load(*a, **k))
    monkeypatch.setattr(plots, "predict_batches", lambda *a, **k: predictions.append(1) or real_predict(*a, **k))
    plots.draw_all(trained_checkpoint, data_dir, tmp_path, log=lambda line: None)
    assert (len(loads), len(predictions)) == (1, 1)


def test_a_preset_sets_the_defaults_and_options_given_override_it(data_dir, tmp_path):
    out = tmp_path / "m.pt"
    result = run_cli("train", "--preset", "fast", "--epochs", "1", "--limit", "300", "--data-dir", data_dir,
                     "--out", out, "--device", "cpu")
    assert result.returncode == 0, result.stderr
    saved = torch.load(out, weights_only=True)["train_config"]
    assert saved == {**mnist_sum.config.PRESETS["fast"].to_dict(), "epochs": 1, "limit": 300}
    fast_epochs = mnist_sum.config.PRESETS["fast"].epochs
    assert f"(default: {fast_epochs})" in run_cli("train", "--preset", "fast", "--help").stdout
