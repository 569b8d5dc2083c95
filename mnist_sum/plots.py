"""Figures: digits as the network sees them, training curves, the digit confusion matrix,
the expected output and the most confident mistakes, each drawn with pyplot (a notebook shows
it under the cell). `draw_all` saves a checkpoint's set."""

from pathlib import Path

import matplotlib.pyplot as plt
import torch
from matplotlib.ticker import MaxNLocator

from .data import MEAN, STD, MNISTRandomNumber
from .evaluation import predictions
from .model import load_checkpoint, load_model

RIGHT, WRONG = "#1a7f37", "#cf222e"
plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 100, "font.size": 11, "legend.fontsize": 11})


def show_digits(images, titles=(), labels=(), columns=8, size=1.5):
    """A grid of normalised images [N, 1, 28, 28], with a title above and a label below each; the figure."""
    rows = (len(images) + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(size * columns, 1.5 * size * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set(xticks=[], yticks=[], frame_on=i < len(images))  # a frame shows where each image ends
        if i < len(images):
            ax.imshow((images[i].squeeze() * STD + MEAN).clamp(0, 1), cmap="gray_r", vmin=0, vmax=1)
            title = titles[i] if i < len(titles) else ""
            ax.set_title(title, fontsize=10, color=WRONG if "✗" in title else "black")
            ax.text(0.5, -0.08, labels[i] if i < len(labels) else "", transform=ax.transAxes, ha="center",
                    va="top", fontsize=9)
    fig.tight_layout()
    return fig


def training_curves(history):
    """The loss, and the error of both heads on a log scale, per epoch."""
    epochs = [h["epoch"] for h in history]
    scored_on = history[0]["scored_on"]
    fig, (loss_ax, error_ax) = plt.subplots(1, 2, figsize=(11, 3.8))
    loss_ax.plot(epochs, [h["train_loss"] for h in history], "o-", label="training (augmented)")
    loss_ax.plot(epochs, [h["loss"] for h in history], "o-", label=scored_on)
    loss_ax.set(xlabel="epoch", ylabel="loss (log scale)", yscale="log", title="Loss")
    for key, style in (("sum", "s-"), ("digit", "o-")):
        error_ax.plot(epochs, [100 * (1 - h[f"{key}_accuracy"]) for h in history], style, label=key,
                      markerfacecolor="none" if key == "sum" else None, markersize=9 if key == "sum" else 5)
    error_ax.set(xlabel="epoch", ylabel=f"{scored_on} error, % (log scale)", yscale="log", title="Error")
    for ax in (loss_ax, error_ax):
        ax.grid(alpha=0.3)
        ax.legend()
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()


def confusion_matrix(digits, predicted):
    """The 10x10 digit confusion matrix, mistakes in red."""
    matrix = torch.bincount(digits * 10 + predicted, minlength=100).reshape(10, 10)
    fig, ax = plt.subplots(figsize=(6, 5.4))
    ax.imshow((matrix + 1).log(), cmap="Blues")
    for (i, j), count in zip([(i, j) for i in range(10) for j in range(10)], matrix.flatten().tolist()):
        if count:
            ax.text(j, i, count, ha="center", va="center", color="white" if i == j else WRONG,
                    weight="normal" if i == j else "bold")
    ax.set(xticks=range(10), yticks=range(10), xlabel="predicted digit", ylabel="true digit",
           title=f"{int((digits != predicted).sum())} of {len(digits):,} test digits wrong")
    fig.tight_layout()


def expected_output(dataset, digit_log_probs, sum_log_probs, count=16):
    """The first test items, then the model's first mistakes: image + number -> digit and sum."""
    digits, numbers = dataset.digits, dataset.fixed_numbers
    sums, said_digit, said_sum = digits + numbers, digit_log_probs.argmax(1), sum_log_probs.argmax(1)
    right = (said_digit == digits) & (said_sum == sums)
    first = count // 2  # half the first test items, half the first mistakes after them
    shown = list(range(first)) + [i for i in (~right).nonzero().flatten().tolist() if i >= first][:count - first]
    titles = [f"{said_digit[i]}{'' if said_digit[i] == digits[i] else '✗'} + {numbers[i]} → "
              f"{said_sum[i]}{'' if said_sum[i] == sums[i] else '✗'}" for i in shown]  # ✗ marks a wrong head
    labels = [f"true {digits[i]} + {numbers[i]} = {sums[i]}" for i in shown]
    axes = show_digits(dataset.images[shown], titles, labels, columns=first).axes  # one row for each half
    axes[0].set_ylabel("first items")
    axes[first].set_ylabel("first mistakes")


def confident_mistakes(dataset, digit_log_probs, count=12):
    """The test digits read wrong with the most confidence."""
    probs, said = digit_log_probs.exp().max(1)
    wrong = (said != dataset.digits).nonzero().flatten()
    shown = wrong[probs[wrong].argsort(descending=True)][:count].tolist()
    sure = [f"{100 * probs[i]:.1f}%" if probs[i] < 0.9995 else "> 99.9%" for i in shown]  # never a false 100%
    show_digits(dataset.images[shown], [f"✗ said {said[i]} ({p})" for i, p in zip(shown, sure)],
                       [f"label {dataset.digits[i]} (#{i})" for i in shown], columns=6)


def draw_all(checkpoint=None, data_dir=None, out_dir="images"):
    """Every figure of a trained checkpoint, as PNG files in `out_dir`."""
    model, history = load_model(checkpoint), load_checkpoint(checkpoint).get("history")
    test_set = MNISTRandomNumber(train=False, root=data_dir)
    digit_log_probs, sum_log_probs = predictions(model, test_set)
    figures = {"confusion_matrix": lambda: confusion_matrix(test_set.digits, digit_log_probs.argmax(1)),
               "expected_output": lambda: expected_output(test_set, digit_log_probs, sum_log_probs),
               "confident_mistakes": lambda: confident_mistakes(test_set, digit_log_probs),
               "training_curves": lambda: training_curves(history)}
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    for name, draw in figures.items():
        if name != "training_curves" or history:
            draw()
            plt.savefig(Path(out_dir) / f"{name}.png", bbox_inches="tight")
            plt.close()
            print(f"wrote {Path(out_dir) / name}.png")
