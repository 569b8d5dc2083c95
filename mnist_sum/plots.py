"""The figures of data and results: samples, the loss curve, training curves,
confusion matrices, the expected-output grid and the most confident mistakes.

Each function returns a `diagrams.Picture` (a notebook shows it as a cell's
value; `.figure` is the matplotlib Figure) and, given a path, also writes a PNG
there atomically. `draw_all`
makes every figure that needs a trained checkpoint.
"""

import math
from pathlib import Path

import torch
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from .data import MEAN, STD, MNISTRandomNumber, augment
from .diagrams import INSTALL_DOT, finish, have_dot, model_graph
from .evaluation import evaluate, predict_batches
from .machinery.checkpoint import load_model_and_checkpoint
from .model import SumNet
from .training import make_optimizer

RIGHT, WRONG = "#1a7f37", "#cf222e"


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
    return finish(fig, path)


def augmented_examples(images, config, columns=8, seed=0, path=None):
    """Each row: one training image as stored, then `columns - 1` random augmentations of it."""
    generator = torch.Generator().manual_seed(seed)
    fig = Figure(figsize=(1.3 * columns, 1.4 * len(images)))
    axes = fig.subplots(len(images), columns, squeeze=False)
    for row, image in zip(axes, images):
        copies = augment(image[None].repeat(columns - 1, 1, 1, 1), generator, config.rotate_degrees,
                         config.zoom, config.shift_px)
        for ax, shown in zip(row, [image, *copies]):
            _show_digit(ax, shown)
    axes[0, 0].set_title("stored", fontsize=9)
    for ax in axes[0, 1:]:
        ax.set_title("augmented", fontsize=9)
    return finish(fig, path)


def schedule(config, steps_per_epoch, path=None):
    """The one-cycle schedule of a run with `config`: learning rate and momentum at every step."""
    total = config.epochs * steps_per_epoch
    model = SumNet(**config.model_options())
    optimizer, scheduler = make_optimizer(model, config, total)
    rates, momenta = [], []
    for _ in range(total):
        rates.append(optimizer.param_groups[0]["lr"])
        momenta.append(optimizer.param_groups[0]["momentum"])
        optimizer.step()  # no gradients: the weights stay as they are, only the schedule moves
        scheduler.step()
    epochs = [step / steps_per_epoch for step in range(total)]
    fig = Figure(figsize=(10, 3))
    lr_ax, momentum_ax = fig.subplots(1, 2)
    lr_ax.plot(epochs, rates, color="#8250df")
    lr_ax.set(xlabel="epoch", ylabel="learning rate (CNN)", title="Learning rate: warm-up, then cosine decay")
    momentum_ax.plot(epochs, momenta, color="#bc4c00")
    momentum_ax.set(xlabel="epoch", ylabel="momentum", title="Momentum moves the other way")
    for ax in (lr_ax, momentum_ax):
        ax.grid(alpha=0.3)
    return finish(fig, path)


def negative_log_likelihood(path=None):
    """-log(p): no cost for a sure right answer, a steep one for a sure wrong answer."""
    p = torch.linspace(0.005, 1, 200)
    fig = Figure(figsize=(5, 3.2))
    ax = fig.subplots()
    ax.plot(p, -torch.log(p))
    ax.set(xlabel="probability given to the true class", ylabel="loss = -log(p)", title="Negative log-likelihood")
    ax.grid(alpha=0.3)
    return finish(fig, path)


def training_curves(history, path=None):
    """Loss, both accuracies and the learning rate per epoch."""
    epochs = [h["epoch"] for h in history]
    fig = Figure(figsize=(14, 4), layout="constrained")
    loss_ax, acc_ax, lr_ax = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1, 1, 0.8]})
    loss_ax.plot(epochs, [h["train_loss"] for h in history], "o-", label="train (augmented, training mode)")
    scored_on = history[0].get("scored_on", "test")  # validation images, when the run held some out
    loss_ax.plot(epochs, [h[f"{scored_on}_loss"] for h in history], "o-", label=f"{scored_on} (eval mode)")
    loss_ax.set(xlabel="epoch", ylabel="NLL digit + NLL sum, log scale", title="Loss", yscale="log")
    loss_ax.legend(fontsize=8)
    # error on a log scale: epoch 1's tens of percent and the last epochs' tenths are both readable.
    # The two heads are often within a test image of each other: big hollow squares under small dots
    acc_ax.plot(epochs, [100 * (1 - h["sum_accuracy"]) for h in history], "s-", color="#bc4c00", markersize=9,
                markerfacecolor="none", lw=2.5, alpha=0.8, label="sum")
    acc_ax.plot(epochs, [100 * (1 - h["digit_accuracy"]) for h in history], "o-", color="#0969da", markersize=4,
                lw=1, label="digit")
    acc_ax.axhline(100 - 99.24, color="gray", lw=0.8, ls=":", label="the reference's digit on its test set: 0.76%")
    acc_ax.set(xlabel="epoch", ylabel=f"{scored_on} error (%), log scale", title=f"{scored_on.capitalize()} error",
               yscale="log")
    acc_ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    acc_ax.legend(loc="upper right", fontsize=8)
    lr_ax.plot(epochs, [h["lr"] for h in history], "o-", color="#8250df")
    lr_ax.set(xlabel="epoch", ylabel="CNN learning rate", title="Learning rate at each epoch's end")
    for ax in (loss_ax, acc_ax, lr_ax):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return finish(fig, path)


def confusion_matrices(metrics, path=None):
    """Digit (10x10) and sum (19x19) confusion, log-coloured so rare mistakes show; counts large enough to read."""
    fig = Figure(figsize=(17, 7.5), layout="constrained")
    axes = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.6]})
    for ax, key, title in zip(axes, ("digit_confusion", "sum_confusion"), ("Digit", "Sum")):
        matrix = torch.tensor(metrics[key], dtype=torch.float32)
        ax.imshow((matrix + 1).log10(), cmap="Blues")
        size = matrix.shape[0]
        for i in range(size):
            for j in range(size):
                if matrix[i, j] > 0:
                    ax.text(j, i, int(matrix[i, j]), ha="center", va="center", fontsize=10 if size > 10 else 12,
                            color="white" if i == j else WRONG, weight="normal" if i == j else "bold")
        ax.set(xticks=range(size), yticks=range(size), xlabel="predicted", ylabel="true",
               title=f"{title}: {100 * metrics[key.replace('confusion', 'accuracy')]:.2f}% correct")
        ax.tick_params(labelsize=10)
    return finish(fig, path)


def showcase_indices(digit_log_probs, sum_log_probs, dataset, first=16, wrong=8):
    """The fixed rule for the expected-output grid: the first `first` test items (right or wrong),
    then the first `wrong` items after them that the model gets wrong (digit or sum), in index order."""
    sums = dataset.digits + dataset.fixed_numbers
    is_wrong = (digit_log_probs.argmax(1) != dataset.digits) | (sum_log_probs.argmax(1) != sums)
    return list(range(first)) + [i for i in is_wrong.nonzero().flatten().tolist() if i >= first][:wrong]


def expected_output(dataset, digit_log_probs, sum_log_probs, columns=8, path=None):
    """The exercise in one picture: image, number, predicted digit and sum, with
    the model's first mistakes; right and wrong told apart by colour and by a symbol."""
    indices = showcase_indices(digit_log_probs, sum_log_probs, dataset)
    rows = math.ceil(len(indices) / columns)
    fig = Figure(figsize=(1.6 * columns, 2.2 * rows))
    axes = fig.subplots(rows, columns, squeeze=False).flatten()
    for ax in axes[len(indices):]:
        ax.axis("off")
    for ax, i in zip(axes, indices):
        number = int(dataset.fixed_numbers[i])
        digit, total = int(digit_log_probs[i].argmax()), int(sum_log_probs[i].argmax())
        true_digit = int(dataset.digits[i])
        correct = digit == true_digit and total == true_digit + number
        _show_digit(ax, dataset.images[i])
        # an arrow, not "=": the sum is the sum head's own answer, which need not be digit + number
        ax.set_title(f"{'✓' if correct else '✗'} {digit} + {number} → {total}", color=RIGHT if correct else WRONG,
                     fontsize=11, weight="normal" if correct else "bold")
        digit_wrong, sum_wrong = digit != true_digit, total != true_digit + number
        wrong = "\nboth wrong" if digit_wrong and sum_wrong else "\ndigit wrong" if digit_wrong else \
            "\nsum wrong" if sum_wrong else ""
        ax.set_xlabel(f"true {true_digit} + {number} = {true_digit + number}\ntest #{i}{wrong}", fontsize=9.5)
    fig.suptitle("image + number  →  predicted digit + number → predicted sum   "
                 "(✓ right, ✗ wrong; the last row: the model's first mistakes after them)")
    return finish(fig, path)


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
    fig.suptitle(f"Most confident mistakes ({len(wrong):,} of {len(dataset):,} test digits wrong)")
    return finish(fig, path)


def draw_all(checkpoint_path=None, data_dir=None, out_dir="images", log=print):
    """Every figure that needs a trained model, from one checkpoint; logs each file it writes.
    Without Graphviz's `dot` the architecture graph is skipped, with one line saying how to get it."""
    out_dir = Path(out_dir)
    model, checkpoint = load_model_and_checkpoint(checkpoint_path)
    test_set = MNISTRandomNumber(train=False, root=data_dir)
    predictions = predict_batches(model, test_set)
    history = checkpoint.get("metrics", {}).get("history", [])
    drawers = {
        "training_curves.png": (lambda path: training_curves(history, path)) if history else None,
        "confusion_matrices.png": lambda path: confusion_matrices(
            evaluate(model, test_set, predictions=predictions), path),
        "expected_viz.png": lambda path: expected_output(test_set, *predictions, path=path),
        "confident_mistakes.png": lambda path: confident_mistakes(test_set, predictions[0], path=path),
        "model_graph.png": (lambda path: model_graph(model, path)) if have_dot() else None,
    }
    written = []
    for name, draw in drawers.items():
        if draw is None:
            reason = "the checkpoint has no training history" if name == "training_curves.png" else \
                f"Graphviz's dot is not installed; to draw it, {INSTALL_DOT}"
            log(f"skipped {out_dir / name}: {reason}")
            continue
        draw(out_dir / name)
        log(f"wrote {out_dir / name}")
        written.append(out_dir / name)
    return written
