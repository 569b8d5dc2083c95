"""SumNet's interface, and the exact adder checked against a direct computation."""

import pytest
import torch

from mnist_sum import MnistSumError, SumNet
from mnist_sum.data import one_hot


def _inputs(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 28, 28, generator=g).clamp(-0.4, 2.8), one_hot(torch.randint(10, (n,), generator=g))


@pytest.mark.parametrize("adder", ["learned", "exact"])
def test_shapes_and_log_probabilities(adder):
    model = SumNet(adder=adder).eval()
    digit_log_probs, sum_log_probs = model(*_inputs())
    assert digit_log_probs.shape == (8, 10)
    assert sum_log_probs.shape == (8, 19)
    assert torch.allclose(digit_log_probs.exp().sum(1), torch.ones(8), atol=1e-5)
    assert torch.allclose(sum_log_probs.exp().sum(1), torch.ones(8), atol=1e-5)


def test_default_model_is_the_learned_adder_with_a_compact_cnn():
    model = SumNet()
    assert model.config == {"adder": "learned", "width": 16, "hidden": 128, "dropout": 0.0}
    assert sum(p.numel() for p in model.parameters()) < 150_000  # the reference has 6.4M
    assert sum(p.numel() for p in SumNet(adder="exact").adder.parameters()) == 0


def test_exact_adder_equals_a_direct_sum_over_pairs():
    torch.manual_seed(1)
    model = SumNet(adder="exact").eval()
    images, numbers = _inputs(16, seed=2)
    digit_log_probs, sum_log_probs = model(images, numbers)
    digit_probs = digit_log_probs.exp()
    for row in range(16):
        n = int(numbers[row].argmax())
        expected = torch.zeros(19)
        for d in range(10):
            expected[d + n] += digit_probs[row, d]
        assert torch.allclose(sum_log_probs[row].exp(), expected, atol=1e-6)
        assert sum_log_probs[row].argmax() == digit_probs[row].argmax() + n


def test_exact_adder_with_a_sure_digit_is_certain_of_the_sum():
    adder = SumNet(adder="exact").adder
    digit_probs = torch.zeros(10, 10)
    digit_probs[torch.arange(10), torch.arange(10)] = 1
    numbers = one_hot(torch.arange(10).flip(0))  # 0+9, 1+8, ... all make 9
    assert (adder(digit_probs, numbers).argmax(1) == 9).all()


def test_gradients_reach_the_cnn_through_the_sum_head():
    model = SumNet()
    images, numbers = _inputs()
    _, sum_log_probs = model(images, numbers)
    sum_log_probs[:, 5].sum().backward()
    assert model.digit_net.features[0][0].weight.grad.abs().sum() > 0


def test_unknown_adder_is_refused():
    with pytest.raises(MnistSumError, match="adder must be one of learned, exact"):
        SumNet(adder="abacus")


def test_adder_units_pushed_negative_for_every_input_still_get_gradient():
    """The failure a plain ReLU adder showed in a full run: one large step left its units negative for all
    100 (digit, number) inputs, so they got no gradient and never recovered."""
    adder = SumNet().adder
    with torch.no_grad():
        adder.layers[0].bias.fill_(-100.0)  # every unit of the first layer below zero for every input
    digits, numbers = torch.arange(100) // 10, torch.arange(100) % 10
    sum_log_probs = adder(one_hot(digits), one_hot(numbers))
    torch.nn.functional.nll_loss(sum_log_probs, digits + numbers).backward()
    assert adder.layers[0].weight.grad.abs().sum() > 0
