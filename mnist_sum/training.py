"""Training: one training step, and the loop around it.

Reading order: `train_step` (the whole of learning, in a dozen lines), the
optimiser and its schedule, the random streams, then `train`, which wraps the
step in what a real run needs: the weight average, a checkpoint after every
epoch, resuming, a clean stop on Ctrl-C, and an optional validation split.
The settings are `config.TrainConfig`.
"""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch

from .augment import augment
from .averaging import WeightAverage
from .checkpoint import model_from_checkpoint, read_checkpoint, save_checkpoint
from .config import DEFAULT_OUT, TrainConfig, config_from_dict, make_config
from .data import MNISTRandomNumber, batches
from .device import Precision, channels_last, pick_device
from .errors import MnistSumError
from .evaluation import evaluate, loss_fn
from .model import SumNet
from .progress import bar_output, progress_bar
from .stopping import TrainingInterrupted, stop_on_signals


def train_step(model, batch, optimizer, scaler, precision, augment):
    """One optimiser step on one batch: augment, forward, the two NLL losses, backward, update."""
    images, numbers, digits, sums = batch
    images = channels_last(augment(images))
    with precision.autocast():  # bfloat16 or float16 where the hardware is fast at it
        digit_log_probs, sum_log_probs = model(images, numbers)
        loss = loss_fn(digit_log_probs, sum_log_probs, digits, sums)
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()  # scaled only under float16, where small gradients would round to 0
    scaler.step(optimizer)
    scaler.update()
    return loss.detach()  # a tensor: reading its value would make a GPU wait


def make_optimizer(model, config, total_steps):
    """SGD with Nesterov momentum under a one-cycle schedule: a short warm-up to
    the peak rate while momentum falls, then a long cosine decay to almost zero
    while momentum rises again. The learned adder gets a higher rate."""
    groups = [{"params": list(model.digit_net.parameters()), "lr": config.lr}]
    adder_params = list(model.adder.parameters())  # the exact adder has none
    if adder_params:
        groups.append({"params": adder_params, "lr": config.lr * config.adder_lr_scale})
    # the schedule sets each step's rate and momentum; SGD only needs a momentum to accept nesterov=True
    optimizer = torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum_max, nesterov=True,
                                weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=[group["lr"] for group in groups], total_steps=total_steps,
        pct_start=config.warmup_fraction, base_momentum=config.momentum_min, max_momentum=config.momentum_max)
    return optimizer, schedule


class Generators:
    """One seed, four independent random streams: the order of the training
    images, the random numbers (the dataset's own generator), augmentation,
    and torch's global generator, which draws the initial weights and then
    the dropout masks. Their states are saved with each checkpoint."""

    def __init__(self, seed, train_set):
        self.order = torch.Generator().manual_seed(seed * 3 + 1)
        self.augment = torch.Generator().manual_seed(seed * 3 + 2)
        self.numbers = train_set.generator

    def state(self, device):
        state = {"order": self.order.get_state(), "augment": self.augment.get_state(),
                 "numbers": self.numbers.get_state(), "dropout": torch.get_rng_state()}
        if device.type == "cuda":  # dropout on a GPU draws from the GPU's generator
            state["dropout_cuda"] = torch.cuda.get_rng_state(device)
        return state

    def restore(self, state, device):
        self.order.set_state(state["order"])
        self.augment.set_state(state["augment"])
        self.numbers.set_state(state["numbers"])
        torch.set_rng_state(state["dropout"])
        if device.type == "cuda" and "dropout_cuda" in state:
            torch.cuda.set_rng_state(state["dropout_cuda"], device)


@dataclass
class _Run:
    """Everything one training run holds, so the loop's functions take one argument."""
    config: TrainConfig
    device: torch.device
    model: SumNet
    step_model: Callable
    average: WeightAverage
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    precision: Precision
    generators: Generators
    augment: Callable
    train_set: MNISTRandomNumber
    score_set: MNISTRandomNumber  # what each epoch is scored on: validation images, or else the test set
    out: Path


def train(config=None, *, data_dir=None, out=DEFAULT_OUT, device="auto", resume=False, progress=True, log=print,
          compile=False, on_step=None, **settings):
    """Train a SumNet; save a checkpoint after every epoch; return (model, history).

    `config` is a TrainConfig; any of its fields can also be given as keywords
    (`train(epochs=2, limit=12000)`). The returned model is the weight average,
    in eval mode. `history` has one dict per epoch: the training loss, the loss
    and both accuracies on the validation images if `validation` holds some
    out, else on the test set (`scored_on` says which), the learning rate, the
    momentum and the seconds since training started. `compile` runs the step
    through torch.compile; `on_step(step, averaged_model)` is called after
    every optimiser step.
    """
    config = make_config(config, **settings)
    if Path(out).is_dir():
        raise MnistSumError(f"--out {out} is a folder; give a file name such as {Path(out) / 'sumnet.pt'}")
    device = pick_device(device)
    torch.manual_seed(config.seed)  # the initial weights
    # on the device first, so the optimizer's state is created (or restored) there too
    model = SumNet(**config.model_options()).to(device).to(memory_format=torch.channels_last).train()
    train_set = MNISTRandomNumber(train=True, root=data_dir, seed=config.seed, limit=config.limit,
                                  held_out_pairs=config.held_out_pairs, validation=config.validation)
    test_set = MNISTRandomNumber(train=False, root=data_dir)
    # each epoch is scored on the validation images when there are any: recipe choices never see the test set
    score_set = MNISTRandomNumber(train=True, root=data_dir, validation=config.validation,
                                  validation_only=True) if config.validation else test_set
    generators = Generators(config.seed, train_set)
    optimizer, schedule = make_optimizer(model, config, config.epochs * math.ceil(len(train_set) / config.batch_size))
    precision = Precision.for_device(device)
    run = _Run(config, device, model, torch.compile(model) if compile else model,  # compiled shares the weights
               WeightAverage(model, config.average_decay), optimizer, schedule, precision.grad_scaler(), precision,
               generators, partial(augment, generator=generators.augment, degrees=config.rotate_degrees,
                                   zoom=config.zoom, shift_px=config.shift_px),
               train_set, score_set, Path(out))
    history = _restore(run) if resume else []
    if resume:
        log(f"resuming {out} after epoch {len(history)} of {config.epochs}")
    started = time.perf_counter() - (history[-1]["elapsed_s"] if history else 0.0)

    bars = bar_output() if progress else None
    with stop_on_signals() as stop:
        for epoch in range(len(history) + 1, config.epochs + 1):
            try:
                stop.check()  # a signal during the last epoch's evaluation or save
                train_loss = _train_epoch(run, f"epoch {epoch}/{config.epochs}", bars, on_step, stop)
                _end_epoch(run, epoch, train_loss, history, round(time.perf_counter() - started, 2), log)
            except KeyboardInterrupt:
                saved = f"epoch {len(history)} is saved in {out}" if history else "no epoch had finished yet"
                raise TrainingInterrupted(
                    f"training interrupted during epoch {epoch}; {saved}. "
                    f"Resume with: python -m mnist_sum train --resume --out {out} (and the same options)") from None
    if config.validation:
        final = evaluate(run.average.model, test_set, run.device, all_pairs=False)
        log(f"test set, scored once at the end: digit {100 * final['digit_accuracy']:.2f}%, "
            f"sum {100 * final['sum_accuracy']:.2f}%")
    return run.average.model.eval(), history


def _train_epoch(run, label, bars, on_step, stop):
    """One pass over the training set; returns the mean training loss."""
    total = torch.zeros((), device=run.device)  # summed on the device: no GPU sync per step
    steps = math.ceil(len(run.train_set) / run.config.batch_size)
    bar = progress_bar(batches(run.train_set, run.config.batch_size, run.generators.order, run.device),
                       steps, label, bars)
    with bar:
        for step, batch in enumerate(bar, 1):
            total += train_step(run.step_model, batch, run.optimizer, run.scaler, run.precision, run.augment)
            run.schedule.step()
            run.average.update()
            if on_step is not None:
                on_step(run.schedule.last_epoch, run.average.model)
            stop.check()
            if step % 25 == 0 or step == steps:
                running = total.item() / step
                if not math.isfinite(running):
                    return running
                bar.set_postfix(loss=f"{running:.4f}")
    return total.item() / steps


def _end_epoch(run, epoch, train_loss, history, elapsed_s, log):
    """Evaluate the averaged model, save the checkpoint, then append to `history` and log one line."""
    if not math.isfinite(train_loss):
        kept = f"the checkpoint of epoch {epoch - 1} is kept in {run.out}" if epoch > 1 else "nothing was saved"
        raise MnistSumError(f"the training loss became {train_loss} in epoch {epoch}, so training "
                            f"stopped; {kept}. Try a smaller --lr")
    metrics = evaluate(run.average.model, run.score_set, run.device, all_pairs=False)
    scored_on = "validation" if run.config.validation else "test"
    entry = {"epoch": epoch, "scored_on": scored_on, "train_loss": train_loss, f"{scored_on}_loss": metrics["loss"],
             "digit_accuracy": metrics["digit_accuracy"], "sum_accuracy": metrics["sum_accuracy"],
             "lr": run.schedule.get_last_lr()[0], "momentum": run.optimizer.param_groups[0]["momentum"],
             "elapsed_s": elapsed_s}
    save_checkpoint(run.out, run.average.model, metrics={"history": history + [entry]},
                    train_config=run.config.to_dict(), training_state={
                        "live_state_dict": run.model.state_dict(), "average_steps": run.average.steps,
                        "optimizer": run.optimizer.state_dict(), "schedule": run.schedule.state_dict(),
                        "generators": run.generators.state(run.device)})
    history.append(entry)  # only once it is safely on disk
    log(f"epoch {epoch}/{run.config.epochs}: train loss {train_loss:.4f}, {scored_on} loss {metrics['loss']:.4f}, "
        f"digit {100 * metrics['digit_accuracy']:.2f}%, sum {100 * metrics['sum_accuracy']:.2f}% ({elapsed_s:.0f} s)")


def _restore(run):
    """Load everything a run saved after its last finished epoch; return its history."""
    checkpoint = read_checkpoint(run.out)
    state, saved_config = checkpoint.get("training_state"), checkpoint.get("train_config")
    if not state or not saved_config:
        raise MnistSumError(f"{run.out} holds a model without training state, so it cannot be resumed")
    differs = config_from_dict(saved_config).differences(run.config)
    if differs:
        raise MnistSumError(f"cannot resume {run.out}: {', '.join(differs)}; pass the same options as the first run")
    history = checkpoint["metrics"]["history"]
    if len(history) >= run.config.epochs:
        raise MnistSumError(f"{run.out} already finished all {run.config.epochs} epochs; nothing to resume")
    model_from_checkpoint(checkpoint, run.out)  # refuses a checkpoint of another architecture
    run.model.load_state_dict(state["live_state_dict"])
    run.average.model.load_state_dict(checkpoint["state_dict"])
    run.average.steps = state["average_steps"]
    run.optimizer.load_state_dict(state["optimizer"])
    run.schedule.load_state_dict(state["schedule"])
    run.generators.restore(state["generators"], run.device)
    return history
