"""Test-time augmentation: what a shift does to an image, and what the averaged prediction is."""

import pytest
import torch

from mnist_sum import SumNet, evaluation
from mnist_sum import model as model_module
from mnist_sum.data import BACKGROUND, SHIFTS, MNISTRandomNumber, batches, shifted


def _one_lit_pixel(row, col):
    images = torch.full((1, 1, 28, 28), BACKGROUND)
    images[0, 0, row, col] = 3.0
    return images


@pytest.mark.parametrize("dx, dy", [(1, 0), (-1, 0), (0, 1), (0, -1)])
def test_a_shift_moves_every_pixel_one_step(dx, dy):
    moved = shifted(_one_lit_pixel(10, 20), dx, dy)
    lit = (moved[0, 0] == 3.0).nonzero().tolist()
    assert lit == [[10 + dy, 20 + dx]]
    assert (moved[0, 0] != 3.0).logical_and(moved[0, 0] != BACKGROUND).sum() == 0


@pytest.mark.parametrize("dx, dy, row, col", [(1, 0, 5, 27), (-1, 0, 5, 0), (0, 1, 27, 5), (0, -1, 0, 5)])
def test_ink_shifted_off_the_edge_is_gone_not_wrapped_round(dx, dy, row, col):
    moved = shifted(_one_lit_pixel(row, col), dx, dy)
    assert torch.equal(moved, torch.full_like(moved, BACKGROUND))


def test_tta_averages_the_digit_probabilities_and_adds_them(data_dir, monkeypatch):
    torch.manual_seed(0)
    model = SumNet().eval()
    dataset = MNISTRandomNumber(train=False, root=data_dir, limit=64)
    plain = evaluation.predict_batches(model, dataset)
    with_tta = evaluation.predict_batches(model, dataset, tta=True)
    assert not torch.allclose(plain[0], with_tta[0])

    (images, numbers), _ = next(batches(dataset, 64))  # without an order generator: in order
    with torch.no_grad():
        views = [model.digit_net(shifted(images, dx, dy)).exp() for dx, dy in SHIFTS]
        mean = torch.stack(views).mean(0)
        assert torch.allclose(with_tta[0], mean.log(), atol=1e-5)
        assert torch.allclose(with_tta[1], model.adder(mean, numbers), atol=1e-5)

    monkeypatch.setattr(model_module, "SHIFTS", ((0, 0),))  # one unshifted view: the plain prediction
    for a, b in zip(plain, evaluation.predict_batches(model, dataset, tta=True)):
        assert torch.allclose(a, b, atol=1e-5)


class CertainOfZero(torch.nn.Module):
    """A CNN that gives digit 0 probability 1 and every other digit probability 0 (log: -inf)."""

    def forward(self, images):
        return torch.eye(10)[torch.zeros(len(images), dtype=torch.long)].log()


def test_tta_log_probs_stay_finite_where_a_probability_underflows_to_zero():
    """log_softmax never returns -inf; the averaged probabilities' log must not either, or the loss becomes inf."""
    model = SumNet().eval()
    model.digit_net = CertainOfZero()
    digit_log_probs = model.digit_log_probs(torch.zeros(8, 1, 28, 28), tta=True)
    assert torch.isfinite(digit_log_probs).all()
