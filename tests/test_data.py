"""The dataset's label arithmetic, its random numbers, and the checked MNIST files."""

import shutil

import pytest
import torch
from torch.utils.data import DataLoader, RandomSampler

from mnist_sum import MNISTRandomNumber, MnistSumError, ensure_mnist
from mnist_sum import data as data_module
from mnist_sum.data import MEAN, STD, normalise
from mnist_sum.machinery import download as download_module

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def train_set(data_dir):
    return MNISTRandomNumber(train=True, root=data_dir, seed=0)


@pytest.fixture(scope="module")
def test_set(data_dir):
    return MNISTRandomNumber(train=False, root=data_dir)


def test_real_mnist_label_counts(train_set, test_set):
    assert torch.bincount(train_set.digits).tolist() == TRAIN_COUNTS
    assert torch.bincount(test_set.digits).tolist() == TEST_COUNTS


def test_normalisation_matches_the_published_statistics(data_dir):
    images, _ = data_module.load_mnist(train=True, root=data_dir)
    pixels = images.float() / 255
    assert pixels.mean().item() == pytest.approx(0.1307, abs=5e-5)
    assert pixels.std().item() == pytest.approx(0.3081, abs=5e-5)


def test_item_labels_are_digit_and_digit_plus_number(train_set):
    for i in range(200):
        (image, onehot), (digit, total) = train_set[i]
        assert image.shape == (1, 28, 28)
        assert onehot.shape == (10,) and onehot.sum() == 1
        number = int(onehot.argmax())
        assert digit == train_set.digits[i]
        assert total == digit + number


def test_training_numbers_are_drawn_anew_but_reproducibly(data_dir):
    first = MNISTRandomNumber(train=True, root=data_dir, seed=7, limit=500)
    second = MNISTRandomNumber(train=True, root=data_dir, seed=7, limit=500)
    reads = lambda ds: [int(ds[i][0][1].argmax()) for i in range(500)]  # noqa: E731
    a1, a2 = reads(first), reads(first)
    assert a1 != a2, "reading an item again must draw a new number"
    assert (a1, a2) == (reads(second), reads(second)), "the same seed must give the same numbers"
    counts = torch.bincount(torch.tensor(a1 + a2), minlength=10)
    assert counts.min() > 60, f"numbers should cover 0-9 evenly, got {counts.tolist()}"


def test_test_numbers_are_fixed_per_index(data_dir, test_set):
    again = MNISTRandomNumber(train=False, root=data_dir)
    numbers = [int(test_set[i][0][1].argmax()) for i in range(100)]
    assert numbers == [int(test_set[i][0][1].argmax()) for i in range(100)]
    assert torch.equal(test_set.fixed_numbers, again.fixed_numbers)
    assert torch.bincount(test_set.fixed_numbers, minlength=10).min() > 900


def test_fast_batches_equal_a_dataloader_over_the_dataset(data_dir):
    """The teaching Dataset and the fast batcher give the same batches for one seed."""
    slow = MNISTRandomNumber(train=True, root=data_dir, seed=3, limit=1000)
    fast = MNISTRandomNumber(train=True, root=data_dir, seed=3, limit=1000)
    loader = DataLoader(slow, batch_size=128, sampler=RandomSampler(slow, generator=torch.Generator().manual_seed(5)))
    fast_batches = data_module.batches(fast, 128, torch.Generator().manual_seed(5))
    for ((images, onehot), (digits, sums)), ((f_images, f_onehot), (f_digits, f_sums)) in zip(loader, fast_batches,
                                                                                               strict=True):
        assert torch.equal(images, f_images)
        assert torch.equal(onehot, f_onehot)
        assert torch.equal(digits, f_digits)
        assert torch.equal(sums, f_sums)


def _copy_raw(data_dir, tmp_path):
    """A copy of the four files alone, as if just downloaded: no stamp of an earlier check."""
    root = tmp_path / "data"
    (root / "MNIST" / "raw").mkdir(parents=True)
    for name in download_module.FILES:
        shutil.copy(data_dir / "MNIST" / "raw" / name, root / "MNIST" / "raw" / name)
    return root


def _no_sources(monkeypatch):
    def fail(raw_dir, names):
        raise RuntimeError("offline in this test")
    monkeypatch.setattr(download_module, "SOURCES", [("test source", fail)])


def test_a_corrupted_file_is_reported_when_it_cannot_be_fetched(data_dir, tmp_path, monkeypatch):
    root = _copy_raw(data_dir, tmp_path)
    labels = root / "MNIST" / "raw" / "t10k-labels-idx1-ubyte"
    blob = bytearray(labels.read_bytes())
    blob[100] ^= 0xFF  # one flipped byte: a wrong label nobody would notice, and the same size
    labels.write_bytes(bytes(blob))
    _no_sources(monkeypatch)
    with pytest.raises(MnistSumError, match="t10k-labels-idx1-ubyte damaged"):
        MNISTRandomNumber(train=False, root=root)
    assert labels.read_bytes() == bytes(blob), "a failed fetch must not touch the file"


def test_the_digest_is_computed_once_and_again_only_for_a_changed_file(data_dir, tmp_path, monkeypatch):
    root = _copy_raw(data_dir, tmp_path)
    hashed, real = [], download_module._sha256_ok
    monkeypatch.setattr(download_module, "_sha256_ok", lambda path: hashed.append(path.name) or real(path))
    ensure_mnist(root)
    assert sorted(hashed) == sorted(download_module.FILES)
    ensure_mnist(root)
    assert len(hashed) == 4, "unchanged files are not read again"
    labels = root / "MNIST" / "raw" / "t10k-labels-idx1-ubyte"
    blob = bytearray(labels.read_bytes())
    blob[100] ^= 0xFF
    labels.write_bytes(bytes(blob))  # same size, new modification time
    _no_sources(monkeypatch)
    with pytest.raises(MnistSumError, match="t10k-labels-idx1-ubyte damaged"):
        ensure_mnist(root)
    assert hashed[4:].count("t10k-labels-idx1-ubyte") >= 1 and "train-images-idx3-ubyte" not in hashed[4:]


def test_a_truncated_file_is_fetched_again_and_verified(data_dir, tmp_path, monkeypatch):
    root = _copy_raw(data_dir, tmp_path)
    images = root / "MNIST" / "raw" / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:1000])
    good = data_dir / "MNIST" / "raw"
    fetched = []

    def copy_source(raw_dir, names):
        fetched.extend(names)
        for name in names:
            shutil.copy(good / name, raw_dir / name)
    monkeypatch.setattr(download_module, "SOURCES", [("local copy", copy_source)])
    ensure_mnist(root)
    assert fetched == ["train-images-idx3-ubyte"]
    assert images.read_bytes() == (good / "train-images-idx3-ubyte").read_bytes()


def test_a_source_that_serves_wrong_bytes_installs_nothing(tmp_path, monkeypatch):
    def bad_source(raw_dir, names):
        for name in names:
            (raw_dir / name).write_bytes(b"not mnist")
    monkeypatch.setattr(download_module, "SOURCES", [("bad mirror", bad_source)])
    with pytest.raises(MnistSumError, match="bad mirror: .*wrong SHA-256"):
        ensure_mnist(tmp_path / "empty")
    assert [p.name for p in (tmp_path / "empty" / "MNIST" / "raw").iterdir() if p.name in download_module.FILES] == []


def test_env_variable_sets_the_default_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("MNIST_SUM_DATA", str(tmp_path))
    assert download_module.default_data_dir() == tmp_path
    monkeypatch.delenv("MNIST_SUM_DATA")
    assert str(download_module.default_data_dir()) == "data"


def test_held_out_pairs_are_never_drawn_in_training(data_dir):
    held_out = [(d, (3 * d + 1) % 10) for d in range(10)]
    dataset = MNISTRandomNumber(train=True, root=data_dir, seed=0, limit=3000, held_out_pairs=held_out)
    seen = set()
    for _ in range(3):
        for (_, onehot), (digits, _) in data_module.batches(dataset, 500, torch.Generator().manual_seed(0)):
            seen |= set(zip(digits.tolist(), onehot.argmax(1).tolist()))
    assert seen.isdisjoint(held_out)
    assert len(seen) == 90, "every other pair still appears"


def test_validation_holds_out_the_last_training_images_with_fixed_numbers(data_dir):
    rest = MNISTRandomNumber(train=True, root=data_dir, validation=5000)
    held = MNISTRandomNumber(train=True, root=data_dir, validation=5000, validation_only=True)
    full = MNISTRandomNumber(train=True, root=data_dir)
    assert (len(rest), len(held)) == (55_000, 5000)
    assert torch.equal(rest.images, full.images[:55_000]) and torch.equal(held.images, full.images[55_000:])
    numbers = [int(held[i][0][1].argmax()) for i in range(50)]
    assert numbers == [int(held[i][0][1].argmax()) for i in range(50)], "validation numbers are fixed, as in test"
    with pytest.raises(MnistSumError, match="validation must be an integer from 1 to 59999"):
        MNISTRandomNumber(train=True, root=data_dir, validation=60_000)


def test_normalise_is_the_plain_formula_bit_for_bit_and_leaves_its_input_alone():
    # normalise works in place on its own copy for speed; the result must be what the formula gives, and a float
    # tensor passed in (whose .float() would be itself) must not be changed
    pixels = torch.randint(0, 256, (50, 28, 28), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    assert torch.equal(normalise(pixels), ((pixels.float() / 255.0 - MEAN) / STD).unsqueeze(1))
    as_float = pixels.float()
    before = as_float.clone()
    normalise(as_float)
    assert torch.equal(as_float, before)
