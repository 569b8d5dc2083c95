"""SumNet's outputs, and the exact adder checked against a direct sum over pairs."""

import torch
import torch.nn.functional as F

from mnist_sum import PairSumNet, SumNet
from mnist_sum.data import one_hot
from mnist_sum.model import ExactAdder


def inputs(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 28, 28, generator=g), one_hot(torch.randint(10, (n,), generator=g))


def test_both_heads_give_log_probabilities():
    for adder in ("learned", "exact"):
        digit_log_probs, sum_log_probs = SumNet(adder).eval()(*inputs())
        assert digit_log_probs.shape == (8, 10) and sum_log_probs.shape == (8, 19)
        assert torch.allclose(digit_log_probs.exp().sum(1), torch.ones(8), atol=1e-5)
        assert torch.allclose(sum_log_probs.exp().sum(1), torch.ones(8), atol=1e-5)


def test_the_exact_adder_equals_a_direct_sum_over_pairs():
    """Given the digit's probabilities and a one-hot number, or a second digit's probabilities."""
    g = torch.Generator().manual_seed(1)
    digit_probs = torch.rand(16, 10, generator=g).softmax(1)
    for other in (one_hot(torch.randint(10, (16,), generator=g)), torch.rand(16, 10, generator=g).softmax(1)):
        expected = torch.zeros(16, 19)
        for d in range(10):
            for n in range(10):
                expected[:, d + n] += digit_probs[:, d] * other[:, n]
        assert torch.allclose(ExactAdder()(digit_probs, other).exp(), expected, atol=1e-6)


def test_gradients_reach_the_cnn_through_the_sum_head():
    for adder in ("learned", "exact"):
        model = SumNet(adder)
        _, sum_log_probs = model(*inputs())
        sum_log_probs[:, 5].sum().backward()
        assert model.digit_net.features[0][0].weight.grad.abs().sum() > 0


def test_learned_adder_units_pushed_negative_for_every_input_still_learn():
    """Leaky ReLUs: with plain ReLUs this gradient would be exactly zero."""
    adder = SumNet().adder
    with torch.no_grad():
        adder.layers[0].bias.fill_(-100.0)
    digits, numbers = torch.arange(100) // 10, torch.arange(100) % 10
    F.nll_loss(adder(one_hot(digits), one_hot(numbers)), digits + numbers).backward()
    assert adder.layers[0].weight.grad.abs().sum() > 0


def test_the_pair_model_reads_both_images_with_one_cnn():
    torch.manual_seed(0)
    model = PairSumNet("exact").eval()
    images_a, _ = inputs(4, seed=1)
    images_b, _ = inputs(4, seed=2)
    digit_a, digit_b, sums = model(images_a, images_b)
    assert torch.allclose(digit_a, model.digit_net(images_a), atol=1e-6)
    assert torch.allclose(digit_b, model.digit_net(images_b), atol=1e-6)
    assert torch.allclose(sums, model.adder(digit_a.exp(), digit_b.exp()))
