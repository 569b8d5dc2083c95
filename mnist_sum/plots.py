"""The figures: training curves, confusion matrices, the expected-output grid,
the most confident mistakes and the architecture graph.

Each function returns a matplotlib Figure (a notebook shows it as a cell's
value) and, given a path, also writes a PNG there atomically.
"""

import math
from pathlib import Path

import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .atomic import atomic_path
from .data import MEAN, STD

RIGHT, WRONG = "#1a7f37", "#cf222e"


def save_figure(fig, path):
    """PNG via a temporary file and a rename: never half a picture on disk."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        # no software tag in the metadata: the same figure gives the same bytes
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    return path


def _finish(fig, path):
    if path is not None:
        save_figure(fig, path)
    return fig


def _show_digit(ax, image):
    ax.imshow((image.squeeze() * STD + MEAN).clamp(0, 1), cmap="gray_r", vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])


def samples(dataset, count=8, path=None):
    """A few items as the network sees them: image and number in, digit and sum out."""
    fig = Figure(figsize=(1.6 * count, 2.1))
    for i, ax in enumerate(fig.subplots(1, count)):
        (image, number_onehot), (digit, total) = dataset[i]
        _show_digit(ax, image)
        ax.set_title(f"number {int(number_onehot.argmax())}", fontsize=10)
        ax.set_xlabel(f"digit {int(digit)}, sum {int(total)}", fontsize=10)
    return _finish(fig, path)


def negative_log_likelihood(path=None):
    """-log(p): no cost for a sure right answer, a steep one for a sure wrong answer."""
    p = torch.linspace(0.005, 1, 200)
    fig = Figure(figsize=(5, 3.2))
    ax = fig.subplots()
    ax.plot(p, -torch.log(p))
    ax.set(xlabel="probability given to the true class", ylabel="loss = -log(p)", title="Negative log-likelihood")
    ax.grid(alpha=0.3)
    return _finish(fig, path)


def training_curves(history, path=None):
    """Loss and both accuracies per epoch."""
    epochs = [h["epoch"] for h in history]
    fig = Figure(figsize=(10, 3.6))
    loss_ax, acc_ax = fig.subplots(1, 2)
    loss_ax.plot(epochs, [h["train_loss"] for h in history], "o-", label="train (augmented)")
    loss_ax.plot(epochs, [h["test_loss"] for h in history], "o-", label="test")
    loss_ax.set(xlabel="epoch", ylabel="NLL digit + NLL sum", title="Loss", yscale="log")
    loss_ax.legend()
    acc_ax.plot(epochs, [100 * h["digit_accuracy"] for h in history], "o-", label="digit")
    acc_ax.plot(epochs, [100 * h["sum_accuracy"] for h in history], "s--", label="sum")
    acc_ax.axhline(99.24, color="gray", lw=0.8, ls=":", label="reference digit 99.24%")
    lowest = min(min(h["digit_accuracy"], h["sum_accuracy"]) for h in history)
    acc_ax.set(xlabel="epoch", ylabel="test accuracy (%)", title="Test accuracy (averaged weights)",
               ylim=(min(98.5, 100 * lowest - 0.3), 100))
    acc_ax.legend(loc="lower right")
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return _finish(fig, path)


def confusion_matrices(metrics, path=None):
    """Digit (10x10) and sum (19x19) confusion, log-coloured so rare mistakes show."""
    fig = Figure(figsize=(13, 5.6))
    axes = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.5]})
    for ax, key, title in zip(axes, ("digit_confusion", "sum_confusion"), ("Digit", "Sum")):
        matrix = torch.tensor(metrics[key], dtype=torch.float32)
        ax.imshow((matrix + 1).log10(), cmap="Blues")
        size = matrix.shape[0]
        for i in range(size):
            for j in range(size):
                if matrix[i, j] > 0:
                    ax.text(j, i, int(matrix[i, j]), ha="center", va="center", fontsize=6 if size > 10 else 8,
                            color="white" if i == j else WRONG)
        ax.set(xticks=range(size), yticks=range(size), xlabel="predicted", ylabel="true",
               title=f"{title}: {100 * metrics[key.replace('confusion', 'accuracy')]:.2f}% correct")
        ax.tick_params(labelsize=7)
    return _finish(fig, path)


def expected_output(dataset, digit_log_probs, sum_log_probs, count=24, columns=8, path=None):
    """The exercise in one picture: image, number, predicted digit and sum; green right, red wrong."""
    fig = Figure(figsize=(1.6 * columns, 1.9 * math.ceil(count / columns)))
    axes = fig.subplots(math.ceil(count / columns), columns).flatten()
    for i, ax in enumerate(axes):
        if i >= count:
            ax.axis("off")
            continue
        number = int(dataset.fixed_numbers[i])
        digit, total = int(digit_log_probs[i].argmax()), int(sum_log_probs[i].argmax())
        true_digit = int(dataset.digits[i])
        correct = digit == true_digit and total == true_digit + number
        _show_digit(ax, dataset.images[i])
        ax.set_title(f"{digit} + {number} = {total}", color=RIGHT if correct else WRONG, fontsize=11)
        ax.set_xlabel(f"true {true_digit} + {number} = {true_digit + number}", fontsize=7)
    fig.suptitle("image + number  ->  predicted digit + number = predicted sum")
    return _finish(fig, path)


def confident_mistakes(dataset, digit_log_probs, count=12, path=None):
    """The test digits the network got wrong while most sure of itself."""
    predicted = digit_log_probs.argmax(1)
    wrong = (predicted != dataset.digits).nonzero().flatten()
    confidence = digit_log_probs[wrong, predicted[wrong]].exp()
    order = wrong[confidence.argsort(descending=True)][:count]
    columns = 6
    rows = max(1, math.ceil(len(order) / columns))
    fig = Figure(figsize=(1.7 * columns, 2.0 * rows))
    axes = fig.subplots(rows, columns, squeeze=False).flatten()
    for ax in axes:
        ax.axis("off")
    for ax, i in zip(axes, order.tolist()):
        _show_digit(ax, dataset.images[i])
        ax.axis("on")
        p = digit_log_probs[i].exp()
        ax.set_title(f"said {int(predicted[i])} ({100 * p.max():.0f}%)", color=WRONG, fontsize=9)
        ax.set_xlabel(f"label {int(dataset.digits[i])} (test #{i})", fontsize=8)
    fig.suptitle(f"Most confident mistakes ({len(wrong)} of {len(dataset)} test digits wrong)")
    return _finish(fig, path)


def model_graph(model, path):
    """The autograd graph drawn by torchviz, saved as PNG (needs Graphviz's `dot`)."""
    from torchviz import make_dot

    from .errors import MnistSumError

    was_training = model.training
    model.eval()
    images = torch.zeros(1, 1, 28, 28)
    numbers = torch.zeros(1, 10)
    numbers[0, 3] = 1
    digit_log_probs, sum_log_probs = model(images, numbers)
    model.train(was_training)
    graph = make_dot((digit_log_probs, sum_log_probs), params=dict(model.named_parameters()))
    graph.format = "png"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        png = graph.pipe(format="png")
    except Exception as e:  # graphviz raises ExecutableNotFound when `dot` is missing
        raise MnistSumError(f"cannot draw the model graph: {e}. Install Graphviz (apt-get install graphviz)") from None
    with atomic_path(path) as tmp:
        tmp.write_bytes(png)
    return graph


def draw_all(checkpoint_path, data_dir=None, out_dir="images"):
    """Every figure that needs a trained model, from one checkpoint."""
    from .checkpoint import load_model, read_checkpoint
    from .data import MNISTRandomNumber
    from .training import evaluate, predict_batches

    out_dir = Path(out_dir)
    history = read_checkpoint(checkpoint_path).get("metrics", {}).get("history", [])
    model = load_model(checkpoint_path)
    test_set = MNISTRandomNumber(train=False, root=data_dir)
    digit_log_probs, sum_log_probs = predict_batches(model, test_set)
    written = []
    if history:
        training_curves(history, out_dir / "training_curves.png")
        written.append(out_dir / "training_curves.png")
    confusion_matrices(evaluate(model, test_set), out_dir / "confusion_matrices.png")
    expected_output(test_set, digit_log_probs, sum_log_probs, path=out_dir / "expected_viz.png")
    confident_mistakes(test_set, digit_log_probs, path=out_dir / "confident_mistakes.png")
    model_graph(model, out_dir / "model_graph.png")
    return written + [out_dir / name for name in
                      ("confusion_matrices.png", "expected_viz.png", "confident_mistakes.png", "model_graph.png")]
