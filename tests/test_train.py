"""The training step against a hand-written one, and what `train` promises around it."""

import copy

import pytest
import torch
import torch.nn.functional as F

from mnist_sum import MNISTRandomNumber, SumNet, evaluate, load_model, train_step
from mnist_sum.data import batches

from conftest import tiny_train


def test_train_step_equals_a_hand_written_step(data_dir):
    torch.manual_seed(0)
    ours = SumNet()
    theirs = copy.deepcopy(ours)
    batch = next(batches(MNISTRandomNumber(train=True, root=data_dir, limit=64), 64))
    (images, numbers), (digits, sums) = batch
    opt_ours = torch.optim.SGD(ours.parameters(), lr=0.1, momentum=0.9)
    opt_theirs = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9)
    for _ in range(3):
        loss = train_step(ours, batch, opt_ours)
        digit_log_probs, sum_log_probs = theirs(images, numbers)
        expected = F.nll_loss(digit_log_probs, digits) + F.nll_loss(sum_log_probs, sums)
        opt_theirs.zero_grad()
        expected.backward()
        opt_theirs.step()
        assert torch.allclose(loss, expected.detach())
    for a, b in zip(ours.state_dict().values(), theirs.state_dict().values()):
        assert torch.equal(a, b)


def test_the_same_seed_gives_the_same_weights_and_another_seed_other_ones(data_dir, tmp_path):
    first, history = tiny_train(data_dir, tmp_path / "a.pt", seed=1)
    again, history_again = tiny_train(data_dir, tmp_path / "b.pt", seed=1)
    other, _ = tiny_train(data_dir, tmp_path / "c.pt", seed=2)
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), again.state_dict().values()))
    assert [h["train_loss"] for h in history] == [h["train_loss"] for h in history_again]
    assert not torch.equal(first.digit_net.classifier.weight, other.digit_net.classifier.weight)


def test_a_saved_model_loads_to_the_same_outputs_bit_for_bit(data_dir, tmp_path):
    for adder in ("learned", "exact"):
        model, history = tiny_train(data_dir, tmp_path / f"{adder}.pt", adder=adder)
        loaded = load_model(tmp_path / f"{adder}.pt")
        images = MNISTRandomNumber(train=False, root=data_dir, limit=500)
        with torch.no_grad():
            for a, b in zip(model(images.images, F.one_hot(images.fixed_numbers, 10).float()),
                            loaded(images.images, F.one_hot(images.fixed_numbers, 10).float())):
                assert torch.equal(a, b)
        assert torch.load(tmp_path / f"{adder}.pt", weights_only=True)["history"] == history


def test_a_network_and_a_loss_of_ones_own_are_what_trains(data_dir, tmp_path):
    class Doubled(SumNet):  # another forward: the digit's log-probs sharpened
        def forward(self, images, numbers_onehot):
            digit_log_probs = (2 * self.digit_net(images)).log_softmax(1)
            return digit_log_probs, self.adder(digit_log_probs.exp(), numbers_onehot)

    calls = []

    def digit_only(digit_log_probs, sum_log_probs, digits, sums):
        calls.append(1)
        return F.nll_loss(digit_log_probs, digits)

    net = Doubled()
    model, _ = tiny_train(data_dir, tmp_path / "own.pt", model=net, loss_fn=digit_only)
    assert model is net and len(calls) == 4  # 512 images in batches of 128


def test_with_validation_epochs_are_scored_on_it_and_the_test_set_once_at_the_end(data_dir, tmp_path):
    lines = []
    from mnist_sum import train

    _, history = train(data_dir=data_dir, out=tmp_path / "v.pt", epochs=1, limit=512, validation=1000,
                       progress=False, log=lines.append)
    assert history[0]["scored_on"] == "validation"
    assert "validation loss" in lines[0] and lines[-1].startswith("test set, scored once")


def test_a_loss_that_becomes_nan_stops_training_with_one_message(data_dir, tmp_path):
    with pytest.raises(ValueError, match="became nan"):
        tiny_train(data_dir, tmp_path / "nan.pt", lr=1e30, epochs=1)


def test_evaluate_equals_a_plain_forward_loop_on_the_loaded_model(data_dir, shipped):
    model = load_model(shipped)
    test_set = MNISTRandomNumber(train=False, root=data_dir, limit=2000)
    metrics = evaluate(model, test_set)
    images, digits, numbers = test_set.images, test_set.digits, test_set.fixed_numbers
    with torch.no_grad():
        digit_log_probs, sum_log_probs = model(images, F.one_hot(numbers, 10).float())
        all_pairs = [model(images, F.one_hot(torch.full_like(digits, n), 10).float())[1].argmax(1) == digits + n
                     for n in range(10)]
    assert metrics["digit_accuracy"] == (digit_log_probs.argmax(1) == digits).sum().item() / 2000
    assert metrics["sum_accuracy"] == (sum_log_probs.argmax(1) == digits + numbers).sum().item() / 2000
    assert metrics["sum_accuracy_all_pairs"] == torch.stack(all_pairs).sum().item() / 20_000
