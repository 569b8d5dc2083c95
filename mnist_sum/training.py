"""Training and evaluation.

Reading order: the device and precision, augmentation, one training run
(with per-epoch checkpoints, interruption and NaN handling), then evaluation.
"""

import copy
import math
import signal
import time
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm  # text bars: the same in a terminal, Jupyter and Colab, and no widget state

from .checkpoint import model_from_checkpoint, read_checkpoint, save_checkpoint
from .data import MEAN, NUM_DIGITS, STD, MNISTRandomNumber, batches, one_hot, pair_mask
from .errors import MnistSumError
from .model import SumNet

DEFAULTS = {"epochs": 18, "batch_size": 256, "lr": 0.1, "seed": 0, "adder": "learned"}
WEIGHT_DECAY = 1e-3
WARMUP_FRACTION = 0.15  # of all steps, rising to the peak learning rate
ADDER_LR_SCALE = 10  # the adder's small MLP learns addition too slowly at the CNN's rate
AVERAGE_DECAY = 0.99  # the averaged weights follow the live ones over about 100 steps
DEFAULT_OUT = "checkpoints/sumnet.pt"


class TrainingInterrupted(MnistSumError):
    """Ctrl-C or SIGTERM: the last finished epoch is saved and can be resumed."""


# ---------------------------------------------------------------- device and precision


def pick_device(name="auto"):
    """cuda, else mps, else cpu; or exactly the device asked for."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise MnistSumError("--device cuda was asked for but no CUDA GPU is available; use --device auto or cpu")
    if name not in ("cpu", "cuda", "mps"):
        raise MnistSumError(f"device must be auto, cpu or cuda, got {name!r}")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise MnistSumError("--device mps was asked for but MPS is not available; use --device auto or cpu")
    return torch.device(name)


def _cpu_has_fast_bf16():
    """bf16 pays off on CPUs with AMX or AVX512-BF16; elsewhere it is slower than float32."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def autocast_dtype(device):
    """The reduced precision that is fast and safe on this device, or None for float32."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and _cpu_has_fast_bf16():
        return torch.bfloat16
    return None


@contextmanager
def precision(device):
    dtype = autocast_dtype(device)
    with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        yield


def channels_last(x):
    # convolutions run faster on NHWC on both oneDNN (CPU) and cuDNN (GPU)
    return x.contiguous(memory_format=torch.channels_last)


# ---------------------------------------------------------------- augmentation

BACKGROUND = (0.0 - MEAN) / STD  # a blank pixel after normalisation


def augment(images, generator, degrees=10.0, scale=0.1, shift_px=2.0):
    """Random small rotation, zoom and shift per image, done for the whole batch
    at once with one affine grid (handwriting varies like this; labels do not)."""
    n = images.shape[0]
    rand = lambda *shape: torch.rand(*shape, generator=generator).mul(2).sub(1)  # noqa: E731 uniform in [-1, 1]
    angle = rand(n) * math.radians(degrees)
    zoom = 1 + rand(n) * scale
    shift = rand(n, 2) * (shift_px / 14)  # grid coordinates run from -1 to 1 over 28 pixels
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1),
                         torch.stack([sin, cos, shift[:, 1]], 1)], 1).to(images.device)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    # grid_sample fills with 0, so shift the background to 0 and back
    return F.grid_sample(images - BACKGROUND, grid, align_corners=False) + BACKGROUND


# ---------------------------------------------------------------- training


def loss_fn(digit_log_probs, sum_log_probs, digits, sums):
    """NLL of the digit plus NLL of the sum: both heads count equally."""
    return F.nll_loss(digit_log_probs, digits) + F.nll_loss(sum_log_probs, sums)


class WeightAverage:
    """An exponential moving average of the weights and batch-norm statistics.

    SGD at a high learning rate jitters around a good solution; the average
    sits in its middle, so it is more accurate early on and never worse at the
    end. It is the model we evaluate and save.
    """

    def __init__(self, model, decay=AVERAGE_DECAY):
        self.model = copy.deepcopy(model).eval()
        self.decay = decay
        self.steps = 0
        self._pairs = list(zip(self.model.state_dict().values(), model.state_dict().values()))

    @torch.no_grad()
    def update(self):
        # a shorter memory for the first steps, so the random initial weights fade fast
        self.steps += 1
        decay = min(self.decay, (1 + self.steps) / (10 + self.steps))
        for average, live in self._pairs:
            if average.is_floating_point():
                average.lerp_(live, 1 - decay)
            else:
                average.copy_(live)  # counters such as num_batches_tracked


class _Generators:
    """One seed, four independent streams: data order, random numbers, augmentation,
    and torch's global generator, which seeds the weights and then draws the dropout masks."""

    def __init__(self, seed):
        self.order = torch.Generator().manual_seed(seed * 3 + 1)
        self.augment = torch.Generator().manual_seed(seed * 3 + 2)

    def state(self, train_set, device):
        state = {"order": self.order.get_state(), "augment": self.augment.get_state(),
                 "numbers": train_set.generator.get_state(), "dropout": torch.get_rng_state()}
        if device.type == "cuda":  # dropout on a GPU draws from the GPU's generator
            state["dropout_cuda"] = torch.cuda.get_rng_state(device)
        return state

    def restore(self, state, train_set, device):
        self.order.set_state(state["order"])
        self.augment.set_state(state["augment"])
        train_set.generator.set_state(state["numbers"])
        torch.set_rng_state(state["dropout"])
        if device.type == "cuda" and "dropout_cuda" in state:
            torch.cuda.set_rng_state(state["dropout_cuda"], device)


class _StopRequest:
    """Ctrl-C and SIGTERM (a closed Colab tab, `kill`) ask training to stop.

    The request takes effect at the next step boundary, so no optimiser step,
    progress bar or checkpoint is ever cut in half; a second signal stops at once.
    """

    def __init__(self):
        self.requested = False

    def _on_signal(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def check(self):
        if self.requested:
            raise KeyboardInterrupt


@contextmanager
def _stop_on_signals():
    stop = _StopRequest()
    try:
        previous = {signum: signal.signal(signum, stop._on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread: signals cannot be caught here, Ctrl-C acts as usual
        yield stop
        return
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise MnistSumError(f"{name} must be a positive integer, got {value!r}")
    return value


def train(epochs=DEFAULTS["epochs"], batch_size=DEFAULTS["batch_size"], lr=DEFAULTS["lr"],
          seed=DEFAULTS["seed"], data_dir=None, out=DEFAULT_OUT, device="auto", limit=None,
          adder=DEFAULTS["adder"], resume=False, progress=True, log=print, compile=False, on_step=None,
          held_out_pairs=()):
    """Train a SumNet; save a checkpoint after every epoch; return (model, history).

    The returned model is the weight average, in eval mode. `history` has one
    dict per epoch: train and test loss, both accuracies, the learning rate and
    the seconds since training started. `compile` runs the training step
    through torch.compile; `on_step(step, averaged_model)` is called after every
    optimiser step (the benchmark uses it to time the way to an accuracy).
    `held_out_pairs` are (digit, number) pairs never shown in training.
    """
    check_positive_int("epochs", epochs)
    check_positive_int("batch_size", batch_size)
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not (math.isfinite(lr) and lr > 0):
        raise MnistSumError(f"lr must be a positive number, got {lr!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise MnistSumError(f"seed must be a non-negative integer, got {seed!r}")
    if Path(out).is_dir():
        raise MnistSumError(f"--out {out} is a folder; give a file name such as {Path(out) / 'sumnet.pt'}")
    device = pick_device(device) if isinstance(device, str) else device
    run = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed, "limit": limit, "adder": adder,
           "held_out_pairs": [list(map(int, pair)) for pair in held_out_pairs]}

    torch.manual_seed(seed)  # the initial weights
    # on the device first, so the optimizer's state is created (or restored) there too
    model = SumNet(adder=adder).to(device).to(memory_format=torch.channels_last).train()
    train_set = MNISTRandomNumber(train=True, root=data_dir, seed=seed, limit=limit, held_out_pairs=held_out_pairs)
    test_set = MNISTRandomNumber(train=False, root=data_dir)
    generators = _Generators(seed)
    optimizer, schedule = _optimizer_and_schedule(model, lr, epochs * math.ceil(len(train_set) / batch_size))
    average = WeightAverage(model)
    history = []
    if resume:
        history = _restore(out, run, model, average, optimizer, schedule, generators, train_set, device)
        log(f"resuming {out} after epoch {len(history)} of {epochs}")
    scaler = torch.amp.GradScaler(device.type, enabled=autocast_dtype(device) == torch.float16)
    step_model = torch.compile(model) if compile else model  # shares its weights with `model`
    elapsed_before = history[-1]["elapsed_s"] if history else 0.0
    started = time.perf_counter()

    with _stop_on_signals() as stop:
        for epoch in range(len(history), epochs):
            try:
                stop.check()
                _run_epoch(model, step_model, average, train_set, test_set, generators, optimizer, schedule,
                           scaler, batch_size, device, epoch, run, history, out, progress, log, on_step, stop,
                           elapsed=lambda: elapsed_before + time.perf_counter() - started)
            except KeyboardInterrupt:
                saved = f"epoch {len(history)} is saved in {out}" if history else "no epoch had finished yet"
                raise TrainingInterrupted(
                    f"training interrupted during epoch {epoch + 1}; {saved}. "
                    f"Resume with: python -m mnist_sum train --resume --out {out} (and the same options)") from None
    return average.model.eval(), history


def _optimizer_and_schedule(model, lr, total_steps):
    """SGD with Nesterov momentum under a one-cycle schedule: a short warm-up to
    the peak rate, then a long cosine decay to almost zero."""
    groups = [{"params": list(model.digit_net.parameters()), "lr": lr}]
    adder_params = list(model.adder.parameters())  # the exact adder has none
    if adder_params:
        groups.append({"params": adder_params, "lr": lr * ADDER_LR_SCALE})
    optimizer = torch.optim.SGD(groups, lr=lr, momentum=0.9, nesterov=True, weight_decay=WEIGHT_DECAY)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=[group["lr"] for group in groups], total_steps=total_steps, pct_start=WARMUP_FRACTION)
    return optimizer, schedule


def _run_epoch(model, step_model, average, train_set, test_set, generators, optimizer, schedule, scaler,
               batch_size, device, epoch, run, history, out, progress, log, on_step, stop, elapsed):
    """Train one epoch, evaluate the averaged model, append to `history`, save the checkpoint."""
    epochs = run["epochs"]
    train_loss = _train_one_epoch(step_model, average, train_set, generators, optimizer, schedule, scaler,
                                  batch_size, device, f"epoch {epoch + 1}/{epochs}", progress, on_step, stop)
    if not math.isfinite(train_loss):
        kept = f"the checkpoint of epoch {epoch} is kept in {out}" if epoch > 0 else "nothing was saved"
        raise MnistSumError(f"the training loss became {train_loss} in epoch {epoch + 1}, so training "
                            f"stopped; {kept}. Try a smaller --lr")
    metrics = evaluate(average.model, test_set, device, all_pairs=False)
    entry = {
        "epoch": epoch + 1, "train_loss": train_loss, "test_loss": metrics["loss"],
        "digit_accuracy": metrics["digit_accuracy"], "sum_accuracy": metrics["sum_accuracy"],
        "lr": schedule.get_last_lr()[0], "elapsed_s": round(elapsed(), 2),
    }
    save_checkpoint(out, average.model, metrics={"history": history + [entry], "run": run}, training_state={
        "run": run, "history": history + [entry], "live_state_dict": model.state_dict(),
        "average_steps": average.steps, "optimizer": optimizer.state_dict(),
        "schedule": schedule.state_dict(), "generators": generators.state(train_set, device),
    })
    history.append(entry)  # only once it is safely on disk
    log(f"epoch {epoch + 1}/{epochs}: train loss {train_loss:.4f}, test loss {metrics['loss']:.4f}, "
        f"digit {100 * metrics['digit_accuracy']:.2f}%, sum {100 * metrics['sum_accuracy']:.2f}% "
        f"({entry['elapsed_s']:.0f} s)")


def _restore(out, run, model, average, optimizer, schedule, generators, train_set, device):
    """Load everything a run saved after its last finished epoch; return its history."""
    checkpoint = read_checkpoint(out)
    state = checkpoint.get("training_state")
    if not state:
        raise MnistSumError(f"{out} holds a model without training state, so it cannot be resumed")
    if state["run"] != run:
        differs = ", ".join(f"{key} was {state['run'].get(key)!r} (now {value!r})"
                            for key, value in run.items() if state["run"].get(key) != value)
        raise MnistSumError(f"cannot resume {out}: {differs}; pass the same options as the first run")
    if len(state["history"]) >= run["epochs"]:
        raise MnistSumError(f"{out} already finished all {run['epochs']} epochs; nothing to resume")
    model_from_checkpoint(checkpoint, out)  # refuses a checkpoint of another configuration
    model.load_state_dict(state["live_state_dict"])
    average.model.load_state_dict(checkpoint["state_dict"])
    average.steps = state["average_steps"]
    optimizer.load_state_dict(state["optimizer"])
    schedule.load_state_dict(state["schedule"])
    generators.restore(state["generators"], train_set, device)
    return state["history"]


def _train_one_epoch(model, average, train_set, generators, optimizer, schedule, scaler,
                     batch_size, device, label, progress, on_step, stop):
    total = torch.zeros((), device=device)  # summed on the device: no sync per step
    steps = math.ceil(len(train_set) / batch_size)
    bar = tqdm(batches(train_set, batch_size, generators.order, device), total=steps,
               desc=label, disable=not progress, leave=False, mininterval=0.5)
    for step, (images, numbers, digits, sums) in enumerate(bar, 1):
        images = channels_last(augment(images, generators.augment))
        with precision(device):
            digit_log_probs, sum_log_probs = model(images, numbers)
            loss = loss_fn(digit_log_probs, sum_log_probs, digits, sums)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        schedule.step()
        average.update()
        total += loss.detach()
        if on_step is not None:
            on_step(schedule.last_epoch, average.model)
        stop.check()
        if step % 25 == 0 or step == steps:
            running = total.item() / step
            if not math.isfinite(running):
                return running
            bar.set_postfix(loss=f"{running:.4f}")
    bar.close()
    return total.item() / steps


# ---------------------------------------------------------------- evaluation


@torch.no_grad()
def predict_batches(model, dataset, device="cpu", batch_size=1000):
    """Digit and sum log-probabilities for every item of `dataset`, in order."""
    model.eval()
    device = torch.device(device)
    digit_parts, sum_parts = [], []
    for images, numbers, _, _ in batches(dataset, batch_size, device=device):
        with precision(device):
            digit_log_probs, sum_log_probs = model(channels_last(images), numbers)
        digit_parts.append(digit_log_probs.float().cpu())
        sum_parts.append(sum_log_probs.float().cpu())
    return torch.cat(digit_parts), torch.cat(sum_parts)


@torch.no_grad()
def sum_accuracy_all_pairs(model, dataset, device="cpu", pairs=None, batch_size=1000):
    """Sum accuracy over every (test image, number 0-9) pair: 10 x the test set.
    The CNN runs once per image; only the cheap adder runs ten times.
    With `pairs`, only the (digit, number) pairs listed count."""
    model.eval()
    device = torch.device(device)
    counted = (torch.ones(NUM_DIGITS, NUM_DIGITS, dtype=torch.bool) if pairs is None else pair_mask(pairs)).to(device)
    correct = total = 0
    for images, _, digits, _ in batches(dataset, batch_size, device=device):
        with precision(device):
            digit_probs = model.digit_net(channels_last(images)).float().exp()
        for n in range(NUM_DIGITS):
            numbers = torch.full_like(digits, n)
            sum_log_probs = model.adder(digit_probs, one_hot(numbers))
            mask = counted[digits, n]
            correct += ((sum_log_probs.argmax(1) == digits + n) & mask).sum().item()
            total += mask.sum().item()
    return correct / max(total, 1)


def confusion_matrix(true, predicted, num_classes):
    """Rows: true class; columns: predicted class."""
    return torch.bincount(true * num_classes + predicted, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def evaluate(model, test_set, device="cpu", all_pairs=True):
    """Accuracy of both heads on the test split's fixed numbers, plus (with
    `all_pairs`) sum accuracy over all 100,000 pairs, confusion matrices and
    per-class accuracy."""
    was_training = model.training
    digit_log_probs, sum_log_probs = predict_batches(model, test_set, device)
    digits = test_set.digits
    sums = digits + test_set.fixed_numbers
    metrics = {
        "loss": loss_fn(digit_log_probs, sum_log_probs, digits, sums).item(),
        "digit_accuracy": (digit_log_probs.argmax(1) == digits).float().mean().item(),
        "sum_accuracy": (sum_log_probs.argmax(1) == sums).float().mean().item(),
        "num_test_images": len(test_set),
    }
    if all_pairs:
        digit_confusion = confusion_matrix(digits, digit_log_probs.argmax(1), NUM_DIGITS)
        sum_confusion = confusion_matrix(sums, sum_log_probs.argmax(1), 19)
        metrics.update({
            "sum_accuracy_all_pairs": sum_accuracy_all_pairs(model, test_set, device),
            "digit_confusion": digit_confusion.tolist(),
            "sum_confusion": sum_confusion.tolist(),
            "digit_per_class_accuracy": _per_class(digit_confusion),
            "sum_per_class_accuracy": _per_class(sum_confusion),
        })
    model.train(was_training)
    return metrics


def _per_class(confusion):
    support = confusion.sum(1).clamp_min(1)
    return (confusion.diag().float() / support).tolist()
