"""The command line as users and acceptance checks call it."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import assert_clean_error, run_cli


@pytest.mark.slow
def test_evaluate_with_no_checkpoint_of_ones_own_uses_the_shipped_weights(data_dir, tmp_path, monkeypatch, cli):
    """The first minute: no checkpoints/ folder, no --checkpoint; one stderr line says which weights.
    With --tta, so one pass over the test set covers both (the plain figures: tests/test_weights.py)."""
    monkeypatch.chdir(tmp_path)
    result = cli("evaluate", "--data-dir", data_dir, "--tta", "--json")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert metrics["tta"] is True
    for key in ("digit_accuracy", "sum_accuracy", "sum_accuracy_all_pairs"):
        assert metrics[key] >= 0.99, (key, metrics[key])
    assert len(metrics["digit_confusion"]) == 10 and len(metrics["sum_confusion"]) == 19
    assert sum(map(sum, metrics["digit_confusion"])) == 10_000
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert "weights shipped" in result.stderr and "mnist_sum/weights/sumnet.pt" in result.stderr


def test_your_own_checkpoint_comes_before_the_shipped_weights(trained_checkpoint, tmp_path, monkeypatch, cli):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "sumnet.pt").write_bytes(b"not a checkpoint")
    result = cli("predict", trained_checkpoint, "3")  # any file will do as the image: it is never reached
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "mnist_sum: using checkpoints/sumnet.pt (your trained model)",
        result.stderr.splitlines()[1]]
    assert "checkpoints/sumnet.pt is truncated or not a PyTorch file" in result.stderr.splitlines()[1]


def test_predict_json_on_a_real_digit_with_no_checkpoint_named(data_dir, tmp_path, monkeypatch, cli):
    from PIL import Image

    from mnist_sum.data import load_mnist

    monkeypatch.chdir(tmp_path)
    images, labels = load_mnist(train=False, root=data_dir)
    path = tmp_path / "digit.png"
    Image.fromarray((255 - images[0]).numpy()).resize((140, 140)).save(path)  # a 7, dark on light
    result = cli("predict", path, "5", "--json")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert (answer["digit"], answer["sum"]) == (int(labels[0]), int(labels[0]) + 5)
    assert 0.5 < answer["digit_probability"] <= 1 and 0.5 < answer["sum_probability"] <= 1
    assert "weights shipped with mnist_sum" in result.stderr


def test_a_reader_that_stops_early_gets_no_traceback(data_dir, tmp_path):
    """`python -m mnist_sum predict ... --json | head -c 10`, with the reader gone before the answer is written."""
    from PIL import Image

    from mnist_sum.data import load_mnist

    images, _ = load_mnist(train=False, root=data_dir)
    Image.fromarray((255 - images[0]).numpy()).save(tmp_path / "digit.png")
    read_end, write_end = os.pipe()
    os.close(read_end)  # the command is still importing torch: its first write meets a closed pipe
    try:
        result = subprocess.run([sys.executable, "-m", "mnist_sum", "predict", "digit.png", "5", "--json"],
                                stdout=write_end, stderr=subprocess.PIPE, text=True, cwd=tmp_path, timeout=300)
    finally:
        os.close(write_end)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr, result.stderr


@pytest.mark.parametrize("args, words", [
    (["train", "--epochs", "0"], ["--epochs", "positive integer"]),
    (["train", "--lr", "nan"], ["--lr", "positive number"]),
    (["train", "--adder", "abacus"], ["--adder", "invalid choice"]),
    (["predict", "--checkpoint", "x.pt", "img.png", "12"], ["NUMBER", "0 to 9"]),
    (["predict", "img.png"], ["NUMBER"]),
    (["fly"], ["invalid choice"]),
])
def test_bad_arguments_exit_2_with_one_line(args, words, cli):
    result = cli(*args)
    assert result.returncode == 2
    assert_clean_error(result, *words)


def test_a_fresh_process_exits_2_with_one_line_and_no_traceback(tmp_path):
    result = run_cli("evaluate", "--checkpoint", tmp_path / "nope.pt")
    assert result.returncode == 2
    assert_clean_error(result, "not found", "train")


FIGURES = ("training_curves", "confusion_matrices", "expected_viz", "confident_mistakes")


def _assert_pngs(folder, names):
    for name in names:
        png = (folder / f"{name}.png").read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 5000, name
    assert not list(folder.glob(".*.part")), "temporary files left behind"


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("dot") is None, reason="needs Graphviz's dot; the test below covers its absence")
def test_figures_are_drawn_from_a_checkpoint_and_each_file_is_named(trained_checkpoint, data_dir, tmp_path, cli):
    result = cli("figures", "--checkpoint", trained_checkpoint, "--data-dir", data_dir, "--out-dir", tmp_path)
    assert result.returncode == 0, result.stderr
    _assert_pngs(tmp_path, FIGURES + ("model_graph",))
    assert result.stdout.splitlines() == [f"wrote {tmp_path / name}.png" for name in FIGURES + ("model_graph",)]
    assert len((tmp_path / "model_graph.png").read_bytes()) < 150_000


def test_figures_without_graphviz_draw_the_rest_and_say_why_in_one_line(trained_checkpoint, data_dir, tmp_path,
                                                                         monkeypatch, cli):
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # no dot on PATH
    out = tmp_path / "images"
    result = cli("figures", "--checkpoint", trained_checkpoint, "--data-dir", data_dir, "--out-dir", out)
    assert result.returncode == 0, result.stderr
    _assert_pngs(out, FIGURES)
    assert not (out / "model_graph.png").exists()
    skipped = [line for line in result.stdout.splitlines() if line.startswith("skipped")]
    assert len(skipped) == 1 and "model_graph.png" in skipped[0] and "apt-get install graphviz" in skipped[0]
