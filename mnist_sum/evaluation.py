"""Evaluation: predictions for a whole dataset, the all-pairs sum accuracy,
confusion matrices, and the metrics dictionary that `evaluate` returns.

Everything runs on the model's own device unless told otherwise, and leaves
the model in the mode (train or eval) it found it in.
"""

from contextlib import contextmanager

import torch
import torch.nn.functional as F

from .data import BACKGROUND, NUM_DIGITS, NUM_SUMS, batches, one_hot, pair_mask
from .device import Precision, channels_last, model_device, pick_device


def loss_fn(digit_log_probs, sum_log_probs, digits, sums):
    """NLL of the digit plus NLL of the sum: both heads count equally."""
    return F.nll_loss(digit_log_probs, digits) + F.nll_loss(sum_log_probs, sums)


@contextmanager
def eval_mode(model):
    """Eval mode (dropout off, batch norm frozen) for the block; the previous mode after it."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def _device_of(model, device):
    return model_device(model) if device is None else pick_device(device)


# Test-time augmentation: the image as it is, and moved one pixel right, left, down and up.
SHIFTS = ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1))


def shifted(images, dx, dy):
    """`images` moved dx pixels right and dy pixels down; the pixels uncovered are blank."""
    moved = torch.roll(images, (dy, dx), (2, 3))
    if dy:
        moved[:, :, 0 if dy > 0 else -1, :] = BACKGROUND
    if dx:
        moved[:, :, :, 0 if dx > 0 else -1] = BACKGROUND
    return moved


def digit_probs(model, images, tta=False):
    """The CNN's digit probabilities; with `tta`, their mean over the image and its `SHIFTS` (5x the work)."""
    views = [shifted(images, dx, dy) for dx, dy in SHIFTS] if tta else [images]
    return torch.stack([model.digit_net(channels_last(view)).float().exp() for view in views]).mean(0)


@torch.no_grad()
def predict_batches(model, dataset, device=None, batch_size=1000, tta=False):
    """Digit and sum log-probabilities for every item of `dataset`, in order, on the CPU.
    With `tta`, the adder reads the digit probabilities averaged over shifted copies."""
    device = _device_of(model, device)
    precision = Precision.for_device(device)
    digit_parts, sum_parts = [], []
    with eval_mode(model):
        for images, numbers, _, _ in batches(dataset, batch_size, device=device):
            with precision.autocast():
                if tta:
                    probs = digit_probs(model, images, tta=True)
                    # a probability that underflowed to 0 keeps a finite log, as log_softmax's would be
                    digit_log_probs = probs.clamp_min(torch.finfo(torch.float32).tiny).log()
                    sum_log_probs = model.adder(probs, numbers)
                else:
                    digit_log_probs, sum_log_probs = model(channels_last(images), numbers)
            digit_parts.append(digit_log_probs.float().cpu())
            sum_parts.append(sum_log_probs.float().cpu())
    return torch.cat(digit_parts), torch.cat(sum_parts)


@torch.no_grad()
def sum_accuracy_all_pairs(model, dataset, device=None, pairs=None, batch_size=1000, tta=False):
    """Sum accuracy over every (test image, number 0-9) pair: 10 x the test set.
    The CNN runs once per image; only the cheap adder runs ten times.
    With `pairs`, only the (digit, number) pairs listed count."""
    device = _device_of(model, device)
    precision = Precision.for_device(device)
    counted = (torch.ones(NUM_DIGITS, NUM_DIGITS, dtype=torch.bool) if pairs is None else pair_mask(pairs)).to(device)
    correct = total = 0
    with eval_mode(model):
        for images, _, digits, _ in batches(dataset, batch_size, device=device):
            with precision.autocast():
                probs = digit_probs(model, images, tta)
            for n in range(NUM_DIGITS):
                sum_log_probs = model.adder(probs, one_hot(torch.full_like(digits, n)))
                mask = counted[digits, n]
                correct += ((sum_log_probs.argmax(1) == digits + n) & mask).sum().item()
                total += mask.sum().item()
    return correct / max(total, 1)


def confusion_matrix(true, predicted, num_classes):
    """Rows: true class; columns: predicted class."""
    return torch.bincount(true * num_classes + predicted, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def per_class_accuracy(confusion):
    support = confusion.sum(1).clamp_min(1)
    return (confusion.diag().float() / support).tolist()


def evaluate(model, test_set, device=None, all_pairs=True, predictions=None, tta=False):
    """Accuracy of both heads on the test split's fixed numbers, plus (with
    `all_pairs`) sum accuracy over all 100,000 pairs, confusion matrices,
    per-class accuracy and the 2x2 table of digit right/wrong against sum
    right/wrong. `predictions`, the output of `predict_batches`, saves running
    the test set again when the caller has it already. `tta`: test-time
    augmentation (see `digit_probs`)."""
    digit_log_probs, sum_log_probs = predictions or predict_batches(model, test_set, device, tta=tta)
    digits = test_set.digits
    sums = digits + test_set.fixed_numbers
    digit_right = digit_log_probs.argmax(1) == digits
    sum_right = sum_log_probs.argmax(1) == sums
    metrics = {
        "loss": loss_fn(digit_log_probs, sum_log_probs, digits, sums).item(),
        "digit_accuracy": digit_right.float().mean().item(),
        "sum_accuracy": sum_right.float().mean().item(),
        "num_test_images": len(test_set),
    }
    if all_pairs:
        digit_confusion = confusion_matrix(digits, digit_log_probs.argmax(1), NUM_DIGITS)
        sum_confusion = confusion_matrix(sums, sum_log_probs.argmax(1), NUM_SUMS)
        metrics.update({
            "sum_accuracy_all_pairs": sum_accuracy_all_pairs(model, test_set, device, tta=tta),
            "digit_confusion": digit_confusion.tolist(),
            "sum_confusion": sum_confusion.tolist(),
            "digit_per_class_accuracy": per_class_accuracy(digit_confusion),
            "sum_per_class_accuracy": per_class_accuracy(sum_confusion),
            # rows: digit right, digit wrong; columns: sum right, sum wrong
            "right_wrong": confusion_matrix((~digit_right).long(), (~sum_right).long(), 2).tolist(),
        })
    return metrics
