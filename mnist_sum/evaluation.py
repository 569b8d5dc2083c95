"""Evaluation: both heads scored on the test set, every (image, number) pair, and where the mistakes are.

The CNN reads each test image once; the adder, which is cheap, then adds the
image's fixed number and, for the all-pairs accuracy, every number 0-9.
Everything runs in float32 on the model's own device, whatever precision
training used, so the number reported is what `model(images, numbers)` gives.
The model is left in the mode (train or eval) it was found in.
"""

from contextlib import contextmanager

import torch

from .data import NUM_DIGITS, NUM_SUMS, batches, one_hot, pair_mask
from .machinery.runtime import model_device, pick_device
from .training import loss_fn


@contextmanager
def eval_mode(model):
    """Eval mode (dropout off, batch norm frozen) for the block; the previous mode after it."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


@torch.no_grad()
def read_digits(model, dataset, batch_size=1000, tta=False):
    """The digit log-probabilities of every image in `dataset`, in order, on the model's device: the CNN once
    per image. With `tta`, averaged over the image and four copies moved one pixel (`SumNet.digit_log_probs`)."""
    device = model_device(model)
    with eval_mode(model):
        return torch.cat([model.digit_log_probs(images, tta) for (images, _), _ in
                          batches(dataset, batch_size, device=device)])


@torch.no_grad()
def predict_batches(model, dataset, device=None, batch_size=1000, tta=False):
    """(digit log-probs, sum log-probs) for every item of `dataset`, with its own numbers, in order, on the CPU.
    `device`, if given, moves the model there first."""
    if device is not None:
        model.to(pick_device(device))
    digit_log_probs = read_digits(model, dataset, batch_size, tta)
    numbers = dataset.numbers_for(torch.arange(len(dataset))).to(digit_log_probs.device)
    with eval_mode(model):
        sum_log_probs = model.sum_log_probs(digit_log_probs, one_hot(numbers))
    return digit_log_probs.cpu(), sum_log_probs.cpu()


@torch.no_grad()
def sum_accuracy_all_pairs(model, dataset, pairs=None, digit_log_probs=None, tta=False):
    """Sum accuracy over every (image, number 0-9) pair: 10 x the dataset. With `pairs`, only the
    (digit, number) pairs listed count. `digit_log_probs` from `read_digits` saves reading the images again."""
    if digit_log_probs is None:
        digit_log_probs = read_digits(model, dataset, tta=tta)
    digit_log_probs = digit_log_probs.to(model_device(model))
    digits = dataset.digits.to(digit_log_probs.device)
    counted = torch.ones(NUM_DIGITS, NUM_DIGITS, dtype=torch.bool) if pairs is None else pair_mask(pairs)
    counted = counted.to(digit_log_probs.device)
    correct = total = 0
    with eval_mode(model):
        for n in range(NUM_DIGITS):
            sum_log_probs = model.sum_log_probs(digit_log_probs, one_hot(torch.full_like(digits, n)))
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
    """Accuracy of both heads on the test split's fixed numbers, plus (with `all_pairs`) sum
    accuracy over all pairs, confusion matrices, per-class accuracy and the 2x2 table of digit
    right/wrong against sum right/wrong. `predictions`, the output of `predict_batches`, saves
    reading the test set again. `tta`: test-time augmentation (`SumNet.digit_log_probs`).
    `device`, if given, moves the model there first."""
    if device is not None:
        model.to(pick_device(device))
    digit_log_probs, sum_log_probs = predictions or predict_batches(model, test_set, tta=tta)
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
            "sum_accuracy_all_pairs": sum_accuracy_all_pairs(model, test_set, digit_log_probs=digit_log_probs),
            "digit_confusion": digit_confusion.tolist(),
            "sum_confusion": sum_confusion.tolist(),
            "digit_per_class_accuracy": per_class_accuracy(digit_confusion),
            "sum_per_class_accuracy": per_class_accuracy(sum_confusion),
            # rows: digit right, digit wrong; columns: sum right, sum wrong
            "right_wrong": confusion_matrix((~digit_right).long(), (~sum_right).long(), 2).tolist(),
        })
    return metrics
