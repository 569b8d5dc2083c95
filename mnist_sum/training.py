"""Training: the settings, the loss, one step, and the loop around it.

Reading order: `Config` and its presets; `loss_fn`; `train_step`, the whole
of learning in a few lines (forward, loss, backward, step); the optimiser and
its schedule; then `train`, which runs the step over the epochs, scores each
epoch and saves a checkpoint after it.
"""

import math
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .data import MNISTRandomNumber, augment, batches
from .evaluation import evaluate
from .model import DEFAULT_CHECKPOINT, SumNet, save_model


@dataclass(frozen=True)
class Config:
    """Every setting of a run. The defaults are the recipe that made the shipped weights."""
    adder: str = "learned"        # "learned" or "exact"
    width: int = 16               # channels of the first convolution; later ones 2x, 4x, 8x
    hidden: int = 128             # the learned adder's hidden units
    seed: int = 0                 # fixes the data order, the numbers, the augmentation and the weights
    limit: int = None             # train on the first N training images only
    validation: int = 0           # hold out the last N training images and score each epoch on them
    held_out_pairs: tuple = ()    # (digit, number) pairs never drawn in training
    epochs: int = 18
    batch_size: int = 256
    lr: float = 0.1               # the peak of the one-cycle schedule
    adder_lr_scale: float = 1.0   # the learned adder's rate, as a multiple of the CNN's
    weight_decay: float = 1e-3
    warmup: float = 0.15          # the share of steps spent rising to the peak rate
    augment: bool = True          # random rotation, zoom and shift of the training images


PRESETS = {
    "default": Config(),
    # 99% on both heads in seconds: a network half as wide, two epochs, no augmentation, smaller batches
    # (more steps), and the adder at 10x the CNN's rate, so that it learns to add in time
    "fast": Config(width=8, epochs=2, batch_size=128, adder_lr_scale=10.0, augment=False),
}


def loss_fn(digit_log_probs, sum_log_probs, digits, sums):
    """NLL of the digit plus NLL of the sum: both heads count equally."""
    return F.nll_loss(digit_log_probs, digits) + F.nll_loss(sum_log_probs, sums)


NO_SCALING = torch.amp.GradScaler("cpu", enabled=False)


def train_step(model, batch, optimizer, loss_fn=loss_fn, autocast=None, scaler=NO_SCALING):
    """One optimiser step on one ((images, numbers_onehot), (digits, sums)) batch.

    `autocast`, a torch.autocast context, runs the forward pass in lower precision;
    `scaler`, a GradScaler, scales the loss so float16's small gradients survive.
    """
    (images, numbers), (digits, sums) = batch
    with autocast or nullcontext():
        digit_log_probs, sum_log_probs = model(images, numbers)
        loss = loss_fn(digit_log_probs, sum_log_probs, digits, sums)
    optimizer.zero_grad()
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    return loss.detach()  # a tensor: reading its value would make a GPU wait


def make_optimizer(model, config, total_steps):
    """SGD with Nesterov momentum under a one-cycle schedule.

    The rate warms up to its peak while momentum falls from 0.95 to 0.85, then
    decays along a cosine to almost zero while momentum rises again. Weight decay
    pulls every weight a little towards zero at each step.
    """
    named = list(model.named_parameters())
    groups = [{"params": [p for n, p in named if not n.startswith("adder.")], "lr": config.lr}]
    adder = [p for n, p in named if n.startswith("adder.")]  # the exact adder has none
    if adder:
        groups.append({"params": adder, "lr": config.lr * config.adder_lr_scale})
    optimizer = torch.optim.SGD(groups, lr=config.lr, momentum=0.95, nesterov=True,
                                weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=[g["lr"] for g in groups], total_steps=total_steps, pct_start=config.warmup,
        base_momentum=0.85, max_momentum=0.95)
    return optimizer, schedule


def pick_device():
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def autocast_dtype(device):
    """bfloat16 where the hardware is fast at it, float16 on older GPUs, else None (float32)."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.get_device_capability(device) >= (8, 0) else torch.float16
    if torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported():
        return torch.bfloat16
    return None


def train(config=None, *, model=None, loss_fn=loss_fn, data_dir=None, out=DEFAULT_CHECKPOINT, device=None,
          progress=True, log=print, **settings):
    """Train; save a checkpoint after every epoch; return (model, history).

    `config` is a Config, and any of its fields can be given as keywords too:
    `train(epochs=2, limit=12000)`. `model` (default: a new SumNet) is any module
    that returns (digit log-probs, sum log-probs), and `loss_fn` replaces the loss.
    Each epoch is scored on the validation images if `validation` holds some out,
    else on the test set; with validation, the test set is scored once at the end.
    """
    config = replace(config or Config(), **settings)
    if config.epochs < 1 or config.batch_size < 1:
        raise ValueError("epochs and batch_size must be at least 1")
    if Path(out).is_dir():
        raise IsADirectoryError(f"{out} is a folder; name a file such as {Path(out) / 'sumnet.pt'}")
    device = device or pick_device()
    train_set = MNISTRandomNumber(True, data_dir, config.seed, config.limit, config.validation,
                                  held_out_pairs=config.held_out_pairs)
    test_set = MNISTRandomNumber(False, data_dir)
    score_set = MNISTRandomNumber(True, data_dir, validation=config.validation, validation_only=True) \
        if config.validation else test_set
    scored_on = "validation" if config.validation else "test"

    # one seed, three generators: the initial weights, the order of the images, the augmentation
    torch.manual_seed(config.seed)
    order = torch.Generator().manual_seed(config.seed * 3 + 1)
    warps = torch.Generator().manual_seed(config.seed * 3 + 2)
    if model is None:
        model = SumNet(config.adder, config.width, config.hidden)
    # channels-last: oneDNN and cuDNN run these convolutions faster in that layout
    model = model.to(device, memory_format=torch.channels_last).train()
    steps_per_epoch = math.ceil(len(train_set) / config.batch_size)
    optimizer, schedule = make_optimizer(model, config, config.epochs * steps_per_epoch)
    model_config = getattr(model, "config", {"adder": config.adder, "width": config.width, "hidden": config.hidden})
    dtype = autocast_dtype(device)
    autocast = torch.autocast(device.type, dtype=dtype) if dtype else None
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)

    history, started = [], time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        try:
            total_loss = torch.zeros((), device=device)
            for (images, numbers), labels in tqdm(batches(train_set, config.batch_size, order, device),
                                                  f"epoch {epoch}", steps_per_epoch, leave=False,
                                                  disable=not progress):
                if config.augment:
                    images = augment(images, warps)
                images = images.contiguous(memory_format=torch.channels_last)
                total_loss += train_step(model, ((images, numbers), labels), optimizer, loss_fn, autocast, scaler)
                schedule.step()
        except KeyboardInterrupt:
            log(f"interrupted in epoch {epoch}; " + (f"{out} holds epoch {epoch - 1}" if history else "nothing saved"))
            raise
        train_loss = total_loss.item() / steps_per_epoch
        if not math.isfinite(train_loss):
            raise ValueError(f"the training loss became {train_loss} in epoch {epoch}; try a smaller learning rate")
        scores = evaluate(model, score_set, all_pairs=False)
        history.append({"epoch": epoch, "train_loss": train_loss, "scored_on": scored_on, **scores,
                        "lr": schedule.get_last_lr()[0], "seconds": round(time.perf_counter() - started, 1)})
        save_model(model, out, config=model_config, history=history, settings=asdict(config))
        log(f"epoch {epoch}/{config.epochs}: train loss {train_loss:.4f}, {scored_on} loss {scores['loss']:.4f}, "
            f"digit {100 * scores['digit_accuracy']:.2f}%, sum {100 * scores['sum_accuracy']:.2f}% "
            f"({history[-1]['seconds']:.0f} s)")
    model = model.to(memory_format=torch.contiguous_format).eval()  # as load_model gives it
    if config.validation:
        final = evaluate(model, test_set, all_pairs=False)
        log(f"test set, scored once: digit {100 * final['digit_accuracy']:.2f}%, "
            f"sum {100 * final['sum_accuracy']:.2f}%")
    return model, history
