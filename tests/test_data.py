"""The datasets against their definitions, and `batches` against a DataLoader."""

import pytest
import torch
from torch.utils.data import DataLoader, RandomSampler

from mnist_sum import MNISTPairs, MNISTRandomNumber
from mnist_sum.data import MEAN, STD, batches, load_mnist


@pytest.fixture(scope="module")
def test_set(data_dir):
    return MNISTRandomNumber(train=False, root=data_dir)


def test_the_real_mnist_files(data_dir):
    train_images, train_digits = load_mnist(True, data_dir)
    test_images, test_digits = load_mnist(False, data_dir)
    assert train_images.shape == (60_000, 28, 28) and test_images.shape == (10_000, 28, 28)
    assert torch.bincount(test_digits).tolist()[:3] == [980, 1135, 1032]  # MNIST's published counts
    pixels = train_images.float() / 255
    assert abs(pixels.mean() - MEAN) < 1e-4 and abs(pixels.std() - STD) < 1e-4


def test_items_are_image_and_number_in_digit_and_sum_out(data_dir):
    dataset = MNISTRandomNumber(train=True, root=data_dir, limit=50)
    for i in range(50):
        (image, number_onehot), (digit, total) = dataset[i]
        assert image.shape == (1, 28, 28) and number_onehot.sum() == 1
        assert digit == dataset.digits[i] and total == digit + number_onehot.argmax()


def test_training_numbers_are_drawn_anew_and_the_seed_repeats_them(data_dir):
    def draws(seed):
        dataset = MNISTRandomNumber(train=True, root=data_dir, seed=seed, limit=10)
        return [int(dataset[0][0][1].argmax()) for _ in range(30)]
    assert draws(0) == draws(0) and draws(0) != draws(1)
    assert len(set(draws(0))) > 3


def test_test_numbers_are_fixed_by_the_seed(data_dir, test_set):
    assert [int(test_set[7][0][1].argmax()) for _ in range(5)] == [int(test_set.fixed_numbers[7])] * 5
    assert torch.equal(MNISTRandomNumber(train=False, root=data_dir).fixed_numbers, test_set.fixed_numbers)


def test_batches_equal_a_dataloader_over_the_dataset(data_dir):
    """Same images, numbers and labels, in the same order, for a shuffled and an ordered pass."""
    for generator_seed in (None, 5):
        fast = MNISTRandomNumber(train=True, root=data_dir, seed=3, limit=1000)
        slow = MNISTRandomNumber(train=True, root=data_dir, seed=3, limit=1000)
        generator = torch.Generator().manual_seed(generator_seed) if generator_seed is not None else None
        sampler = RandomSampler(slow, generator=torch.Generator().manual_seed(5)) if generator else None
        loader = DataLoader(slow, batch_size=128, sampler=sampler)
        pairs = list(zip(batches(fast, 128, generator), loader))
        assert len(pairs) == 8
        for ((images, numbers), (digits, sums)), ((images2, numbers2), (digits2, sums2)) in pairs:
            assert torch.equal(images, images2) and torch.equal(numbers, numbers2)
            assert torch.equal(digits, digits2) and torch.equal(sums, sums2)


def test_held_out_pairs_are_never_drawn_in_training(data_dir):
    held_out = [(d, (3 * d + 1) % 10) for d in range(10)]
    dataset = MNISTRandomNumber(train=True, root=data_dir, limit=5000, held_out_pairs=held_out)
    seen = set()
    for _ in range(3):
        for (_, numbers), (digits, _) in batches(dataset, 1000):
            seen |= set(zip(digits.tolist(), numbers.argmax(1).tolist()))
    assert seen.isdisjoint(held_out) and len(seen) == 90


def test_validation_is_the_last_training_images_with_fixed_numbers(data_dir):
    fit = MNISTRandomNumber(train=True, root=data_dir, validation=5000)
    held = MNISTRandomNumber(train=True, root=data_dir, validation=5000, validation_only=True)
    _, digits = load_mnist(True, data_dir)
    assert len(fit) == 55_000 and len(held) == 5000
    assert torch.equal(held.digits, digits[-5000:]) and torch.equal(fit.digits, digits[:55_000])
    assert not held.train and held[0][0][1].argmax() == held.fixed_numbers[0]


def test_pairs_follow_the_mnist_addition_protocol(data_dir):
    """Each image used once, shuffled by the seed, labelled only with the sum."""
    train_pairs, test_pairs = MNISTPairs(True, data_dir), MNISTPairs(False, data_dir)
    assert len(train_pairs) == 30_000 and len(test_pairs) == 5_000
    images, digits = load_mnist(True, data_dir)
    order = torch.randperm(60_000, generator=torch.Generator().manual_seed(0)).view(-1, 2)
    assert torch.equal(train_pairs.digits, digits[order]) and len(order.flatten().unique()) == 60_000
    (a, b), total = train_pairs[3]
    assert total == digits[order[3]].sum()
    assert torch.equal(a, ((images[order[3, 0]].float() / 255 - MEAN) / STD)[None])
    fit, held = MNISTPairs(True, data_dir, validation=2500), MNISTPairs(True, data_dir, validation=2500,
                                                                        validation_only=True)
    assert len(fit) == 27_500 and torch.equal(torch.cat([fit.digits, held.digits]), train_pairs.digits)
    assert not torch.equal(MNISTPairs(True, data_dir, seed=1).digits, train_pairs.digits)
