"""Evaluation: the accuracy of both heads, and of the sum over every (image, number) pair.

Each score is the model's own forward pass, `model(images, numbers_onehot)`,
in eval mode and float32, whatever precision training used. The model is left
in the mode it was found in.
"""

from contextlib import contextmanager

import torch

from .data import NUM_DIGITS, batches, one_hot


@contextmanager
def eval_mode(model):
    """Eval mode (batch norm uses its running statistics) for the block, then the mode it had."""
    was_training = model.training
    model.eval()
    try:
        yield next(model.parameters()).device
    finally:
        model.train(was_training)


@torch.no_grad()
def predictions(model, dataset, batch_size=1000):
    """(digit log-probs, sum log-probs) of every item with its own fixed number, in order, on the CPU."""
    with eval_mode(model) as device:
        outputs = [model(images, numbers) for (images, numbers), _ in batches(dataset, batch_size, device=device)]
    return tuple(torch.cat(column).float().cpu() for column in zip(*outputs))


@torch.no_grad()
def sum_accuracy_all_pairs(model, dataset, pairs=None, batch_size=1000):
    """Sum accuracy over every image with every number 0-9: ten times the items.
    With `pairs`, a list of (digit, number), only those pairs count. The CNN reads
    each image once, and the adder adds each number: what the forward pass does."""
    counted = torch.zeros(NUM_DIGITS, NUM_DIGITS, dtype=torch.bool)
    for digit, number in pairs if pairs is not None else [(d, n) for d in range(10) for n in range(10)]:
        counted[digit, number] = True
    correct = total = 0
    with eval_mode(model) as device:
        counted = counted.to(device)
        for (images, _), (digits, _) in batches(dataset, batch_size, device=device):
            digit_probs = model.digit_net(images).exp()
            for n in range(NUM_DIGITS):
                sum_log_probs = model.adder(digit_probs, one_hot(torch.full_like(digits, n)))
                mask = counted[digits, n]
                correct += ((sum_log_probs.argmax(1) == digits + n) & mask).sum().item()
                total += mask.sum().item()
    return correct / max(total, 1)


def evaluate(model, dataset, all_pairs=True):
    """loss, digit_accuracy and sum_accuracy on `dataset` with its fixed numbers;
    with `all_pairs`, sum_accuracy_all_pairs too."""
    from .training import loss_fn  # training imports this module

    digit_log_probs, sum_log_probs = predictions(model, dataset)
    digits = dataset.digits
    sums = digits + dataset.fixed_numbers
    metrics = {"loss": loss_fn(digit_log_probs, sum_log_probs, digits, sums).item(),
               "digit_accuracy": (digit_log_probs.argmax(1) == digits).sum().item() / len(digits),
               "sum_accuracy": (sum_log_probs.argmax(1) == sums).sum().item() / len(digits)}
    if all_pairs:
        metrics["sum_accuracy_all_pairs"] = sum_accuracy_all_pairs(model, dataset)
    return metrics
