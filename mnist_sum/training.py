"""Training: the loss, one training step, and the loop around it.

Reading order: `loss_fn`; `train_step`, the whole of learning in a few lines
of plain PyTorch (forward, loss, backward, step); the optimiser and its
schedule; the weight average; then `train`, which runs the step over the
epochs and adds what a real run needs: a checkpoint after every epoch, a clean
stop on Ctrl-C, `--resume`, and an optional validation split. Every setting
is in `config.TrainConfig`.
"""

import math
import time
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel

from .config import config_from_dict, make_config
from .data import MNISTRandomNumber, augment, batches, one_hot
from .machinery import MnistSumError
from .machinery.checkpoint import DEFAULT_OUT, model_from_checkpoint, read_checkpoint, save_checkpoint
from .machinery.runtime import (
    Precision,
    TrainingInterrupted,
    bar_output,
    channels_last,
    pick_device,
    progress_bar,
    stop_on_signals,
)
from .model import SumNet


def loss_fn(digit_log_probs, sum_log_probs, digits, sums):
    """NLL of the digit plus NLL of the sum: both heads count equally."""
    return F.nll_loss(digit_log_probs, digits) + F.nll_loss(sum_log_probs, sums)


def train_step(model, batch, optimizer, augment=None, precision=None, loss_fn=loss_fn):
    """One optimiser step on one batch: forward, loss, backward, step.

    `batch` is ((images, numbers_onehot), (digits, sums)), from `batches` or a
    DataLoader over MNISTRandomNumber. The extras do nothing unless given:
    `augment` changes the images first; `precision` (machinery.runtime.Precision)
    runs the forward pass in bfloat16 or float16 and scales the loss for float16;
    `loss_fn` replaces the loss above with one of yours.
    """
    (images, numbers), (digits, sums) = batch
    if augment is not None:
        images = augment(images)
    with precision.autocast() if precision else nullcontext():
        digit_log_probs, sum_log_probs = model(images, numbers)
        loss = loss_fn(digit_log_probs, sum_log_probs, digits, sums)
    optimizer.zero_grad()
    if precision is None:
        loss.backward()
        optimizer.step()
    else:
        precision.backward_and_step(loss, optimizer)
    return loss.detach()  # a tensor: reading its value would make a GPU wait


def make_optimizer(model, config, total_steps):
    """SGD with Nesterov momentum under a one-cycle schedule: a short warm-up to
    the peak rate while momentum falls, then a long cosine decay to almost zero
    while momentum rises again. `adder_lr_scale` gives the learned adder its own rate."""
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


def weight_average(model, decay):
    """An exponential moving average of the weights and batch-norm statistics (torch's AveragedModel),
    or None for `decay` 0. Its memory starts short, so the random initial weights fade fast."""
    if decay == 0:
        return None

    def moving_average(averaged, current, num_averaged):
        if not averaged.is_floating_point():
            return current  # counters such as num_batches_tracked
        step_decay = ((1 + num_averaged) / (10 + num_averaged)).clamp(max=decay)
        return averaged.lerp(current, (1 - step_decay).to(averaged.dtype))

    return AveragedModel(model, avg_fn=moving_average, use_buffers=True)


class RandomStreams:
    """One seed, four independent random streams: the order of the training images,
    the random numbers (the dataset's own generator), augmentation, and torch's
    global generator, which draws the initial weights and then the dropout masks.
    Their states are saved with each checkpoint, so a resumed run is the same run."""

    def __init__(self, seed, train_set):
        torch.manual_seed(seed)
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


def train(config=None, *, model=None, loss_fn=loss_fn, data_dir=None, out=DEFAULT_OUT, device="auto", resume=False,
          progress=True, log=print, compile=False, on_step=None, **settings):
    """Train a SumNet; save a checkpoint after every epoch; return (model, history).

    `config` is a TrainConfig; any of its fields can also be given as keywords
    (`train(epochs=2, limit=12000)`). The returned model is the one evaluated and
    saved (the weight average, if the recipe has one), in eval mode. `history` has
    one dict per epoch: the training loss, the loss and both accuracies on the
    validation images if `validation` holds some out, else on the test set
    (`scored_on` says which), the learning rate, the momentum and the seconds since
    training started. `compile` runs the step through torch.compile;
    `on_step(step, model)` is called after every optimiser step.

    `model` and `loss_fn` put your own code into the run, e.g. the network and the
    loss written in the notebook. `model` is trained instead of a new SumNet; its
    initial weights are yours. Each epoch is scored and saved as a SumNet holding
    its weights, and that SumNet is returned, so `model` must hold SumNet's weights
    (the same names and shapes) and compute what SumNet computes with them, which
    is checked on a few inputs before training. `loss_fn(digit_log_probs,
    sum_log_probs, digits, sums)` replaces the loss in `train_step`.
    """
    from .evaluation import evaluate  # evaluation builds on the loss defined here

    config = make_config(config, **settings)
    out = Path(out)
    if out.is_dir():
        raise MnistSumError(f"--out {out} is a folder; give a file name such as {out / 'sumnet.pt'}")
    device = pick_device(device)
    train_set = MNISTRandomNumber(train=True, root=data_dir, seed=config.seed, limit=config.limit,
                                  held_out_pairs=config.held_out_pairs, validation=config.validation)
    test_set = MNISTRandomNumber(train=False, root=data_dir, limit=config.score_limit)
    # each epoch is scored on the validation images when there are any: recipe choices never see the test set
    score_set = MNISTRandomNumber(train=True, root=data_dir, validation=config.validation, validation_only=True,
                                  limit=config.score_limit) if config.validation else test_set
    streams = RandomStreams(config.seed, train_set)  # seeds the initial weights too
    package_model = SumNet(**config.model_options()).to(device)
    if model is None:
        model = package_model
    else:
        _check_computes_sumnet(model, package_model, config, device)
    model = model.to(device).to(memory_format=torch.channels_last).train()
    steps_per_epoch = math.ceil(len(train_set) / config.batch_size)
    optimizer, schedule = make_optimizer(model, config, config.epochs * steps_per_epoch)
    average = weight_average(model, config.average_decay)
    trained = average.module if average else model  # the weights that are evaluated and saved

    def scored():
        """A SumNet holding the trained weights: evaluate, save and load_model use its methods."""
        if isinstance(trained, SumNet):
            return trained
        package_model.load_state_dict(trained.state_dict())  # a model of one's own: copied into the package's
        return package_model

    precision = Precision.for_device(device)
    step_model = torch.compile(model) if compile else model  # the compiled module shares the weights

    augments = config.rotate_degrees or config.zoom or config.shift_px  # all 0: skip the resampling entirely

    def augment_batch(images):
        if augments:
            images = augment(images, streams.augment, config.rotate_degrees, config.zoom, config.shift_px)
        return channels_last(images)

    history = []
    if resume:
        history = _resume(out, config, device, model, average, optimizer, schedule, streams)
        log(f"resuming {out} after epoch {len(history)} of {config.epochs}")
    started = time.perf_counter() - (history[-1]["elapsed_s"] if history else 0.0)
    bars = bar_output() if progress else None
    scored_on = "validation" if config.validation else "test"

    with stop_on_signals() as stop:
        for epoch in range(len(history) + 1, config.epochs + 1):
            try:
                stop.check()  # a signal during the last epoch's evaluation or save
                total_loss = torch.zeros((), device=device)  # summed on the device: no GPU wait per step
                order = batches(train_set, config.batch_size, streams.order, device)
                for batch in progress_bar(order, steps_per_epoch, f"epoch {epoch}/{config.epochs}", bars):
                    total_loss += train_step(step_model, batch, optimizer, augment_batch, precision, loss_fn)
                    schedule.step()
                    if average:
                        average.update_parameters(model)
                    if on_step is not None:
                        on_step(schedule.last_epoch, trained)
                    stop.check()
                train_loss = total_loss.item() / steps_per_epoch
                if not math.isfinite(train_loss):
                    kept = f"the checkpoint of epoch {epoch - 1} is kept in {out}" if history else "nothing was saved"
                    raise MnistSumError(f"the training loss became {train_loss} in epoch {epoch}, so training "
                                        f"stopped; {kept}. Try a smaller --lr")
                metrics = evaluate(scored(), score_set, all_pairs=False)
                entry = {"epoch": epoch, "scored_on": scored_on, "train_loss": train_loss,
                         f"{scored_on}_loss": metrics["loss"], "digit_accuracy": metrics["digit_accuracy"],
                         "sum_accuracy": metrics["sum_accuracy"], "lr": schedule.get_last_lr()[0],
                         "momentum": optimizer.param_groups[0]["momentum"],
                         "elapsed_s": round(time.perf_counter() - started, 2)}
                save_checkpoint(out, scored(), metrics={"history": history + [entry]}, train_config=config.to_dict(),
                                training_state={"model": model.state_dict(),
                                                "average": average.state_dict() if average else None,
                                                "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
                                                "random": streams.state(device)})
                history.append(entry)  # only once it is safely on disk
                log(f"epoch {epoch}/{config.epochs}: train loss {train_loss:.4f}, {scored_on} loss "
                    f"{metrics['loss']:.4f}, digit {100 * metrics['digit_accuracy']:.2f}%, "
                    f"sum {100 * metrics['sum_accuracy']:.2f}% ({entry['elapsed_s']:.0f} s)")
            except KeyboardInterrupt:
                saved = f"epoch {len(history)} is saved in {out}" if history else "no epoch had finished yet"
                raise TrainingInterrupted(
                    f"training interrupted during epoch {epoch}; {saved}. "
                    f"Resume with: python -m mnist_sum train --resume --out {out} (and the same options)") from None
    if config.validation:
        final = evaluate(scored(), test_set, all_pairs=False)
        log(f"test set, scored once at the end: digit {100 * final['digit_accuracy']:.2f}%, "
            f"sum {100 * final['sum_accuracy']:.2f}%")
    return scored().eval(), history


def _check_computes_sumnet(model, package_model, config, device):
    """A model of one's own is scored and saved as a SumNet, so it must have SumNet's weights and parts, and
    compute what SumNet computes with them."""
    from .evaluation import eval_mode

    if not isinstance(model, torch.nn.Module):
        raise MnistSumError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    want = {name: tuple(t.shape) for name, t in package_model.state_dict().items()}
    have = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    problems = [f"{name}: {have.get(name, 'missing')} where SumNet has {shape}"
                for name, shape in want.items() if have.get(name) != shape]
    problems += [f"{name}: not in SumNet" for name in have if name not in want]
    if not all(hasattr(model, part) for part in ("digit_net", "adder")):
        problems.append("it needs a digit_net and an adder, the parts that get their own learning rates")
    if problems:
        settings = ", ".join(f"{key}={value!r}" for key, value in config.model_options().items())
        raise MnistSumError(f"model must hold the weights of SumNet({settings}) ({problems[0]}); build it with the "
                            "same layers and names, or pass the settings it was built with")
    # each epoch is scored through SumNet's forward: a model that computes something else would be mis-scored
    model.to(device)
    package_model.load_state_dict(model.state_dict())
    probe = torch.Generator().manual_seed(0)  # its own generator: the run's random streams stay untouched
    images = (torch.rand(16, 1, 28, 28, generator=probe) * 3 - 0.4).to(device)  # the normalised pixels' range
    numbers = one_hot(torch.randint(10, (16,), generator=probe)).to(device)
    with torch.no_grad(), eval_mode(model), eval_mode(package_model):
        try:
            outputs = tuple(model(images, numbers))
            same = len(outputs) == 2 and all(torch.allclose(a.float(), b, atol=1e-4) for a, b in
                                             zip(outputs, package_model(images, numbers)))
        except (TypeError, ValueError, RuntimeError) as e:  # a forward that fails, or outputs of other shapes
            same = False
            if "shape" not in str(e) and "size" not in str(e):
                raise MnistSumError(f"model(images, numbers_onehot) failed: {str(e).splitlines()[0][:150]}") from None
    if not same:
        raise MnistSumError("model computes something other than SumNet with the same weights (its forward or "
                            "its layers differ), and train() scores and saves every epoch as SumNet; train it "
                            "with a loop of your own instead, or keep SumNet's forward")


def _resume(out, config, device, model, average, optimizer, schedule, streams):
    """Load everything a run saved after its last finished epoch; return its history."""
    checkpoint = read_checkpoint(out)
    state, saved_config = checkpoint.get("training_state"), checkpoint.get("train_config")
    if not state or not saved_config:
        raise MnistSumError(f"{out} holds a model without training state, so it cannot be resumed")
    differs = config_from_dict(saved_config).differences(config)
    if differs:
        raise MnistSumError(f"cannot resume {out}: {', '.join(differs)}; pass the same options as the first run")
    history = checkpoint["metrics"]["history"]
    if len(history) >= config.epochs:
        raise MnistSumError(f"{out} already finished all {config.epochs} epochs; nothing to resume")
    model_from_checkpoint(checkpoint, out)  # refuses a checkpoint of another architecture
    model.load_state_dict(state["model"])
    if average:
        average.load_state_dict(state["average"])
    optimizer.load_state_dict(state["optimizer"])
    schedule.load_state_dict(state["schedule"])
    streams.restore(state["random"], device)
    return history

