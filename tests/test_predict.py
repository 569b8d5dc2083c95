"""predict's preprocessing on real MNIST digits shown as people would photograph or draw them."""

import pytest
import torch
from PIL import Image

from mnist_sum import MnistSumError, load_model, predict
from mnist_sum.data import load_mnist
from mnist_sum.predict import open_image, to_mnist

COUNT = 40


@pytest.fixture(scope="module")
def digits(data_dir):
    images, labels = load_mnist(train=False, root=data_dir)
    return images[:COUNT], labels[:COUNT]


def _scan(digit):
    """Dark ink on white paper, 8x larger, off-centre on a wide sheet."""
    big = Image.fromarray((255 - digit).numpy()).resize((224, 224), Image.BILINEAR)
    sheet = Image.new("L", (500, 320), 255)
    sheet.paste(big, (40, 70))
    return sheet


def _chalk(digit):
    """Light on dark like MNIST itself, 4x larger, near the corner of a wide blackboard."""
    board = Image.new("L", (260, 140), 0)
    board.paste(Image.fromarray(digit.numpy()).resize((112, 112), Image.BICUBIC), (140, 10))
    return board


def _blue_ink(digit):
    """Blue ink on cream paper, in colour."""
    ink = digit.float() / 255
    paper, pen = torch.tensor([250.0, 240, 200]), torch.tensor([20.0, 40, 160])
    rgb = paper * (1 - ink[..., None]) + pen * ink[..., None]
    return Image.fromarray(rgb.round().to(torch.uint8).numpy()).resize((112, 112))


def _transparent(digit):
    """Black ink on a transparent background, as drawing apps export it."""
    rgba = torch.zeros(28, 28, 4, dtype=torch.uint8)
    rgba[..., 3] = digit
    return Image.fromarray(rgba.numpy()).resize((84, 84))


FORMS = {"scan.png": _scan, "scan.jpg": _scan, "chalk.png": _chalk, "blue.jpg": _blue_ink,
         "transparent.png": _transparent}


def _similarity(a, b):
    a, b = a.flatten() - a.mean(), b.flatten() - b.mean()
    return float(a @ b / (a.norm() * b.norm()))


@pytest.mark.parametrize("form", FORMS)
def test_preprocessing_recovers_the_mnist_digit(digits, form, tmp_path):
    images, _ = digits
    scores = []
    for i in range(COUNT):
        path = tmp_path / f"{i}-{form}"
        FORMS[form](images[i]).save(path)
        recovered = to_mnist(open_image(path))
        assert recovered.shape == (28, 28)
        scores.append(_similarity(recovered, images[i].float() / 255))
    mean = sum(scores) / len(scores)
    assert mean > 0.9, f"{form}: mean similarity {mean:.3f} to the original digits"


@pytest.mark.parametrize("form", ["scan.jpg", "chalk.png", "transparent.png"])
def test_predict_reads_real_digits_in_other_forms(digits, trained_checkpoint, form, tmp_path):
    images, labels = digits
    model = load_model(trained_checkpoint)
    right = 0
    for i in range(COUNT):
        path = tmp_path / f"{i}-{form}"
        FORMS[form](images[i]).save(path)
        number = i % 10
        result = predict(model, path, number)
        assert 0 <= result["digit_probability"] <= 1 and 0 <= result["sum_probability"] <= 1
        right += result["digit"] == labels[i] and result["sum"] == labels[i] + number
    assert right >= 0.85 * COUNT, f"{form}: {right}/{COUNT} digits and sums right"


def test_an_image_without_ink_is_a_clear_error(tmp_path):
    path = tmp_path / "blank.png"
    Image.new("L", (64, 64), 255).save(path)
    with pytest.raises(MnistSumError, match="no ink"):
        to_mnist(open_image(path))


def test_predict_leaves_the_model_in_the_mode_it_found(digits, trained_checkpoint, tmp_path):
    model = load_model(trained_checkpoint).train()
    path = tmp_path / "digit.png"
    Image.fromarray(digits[0][0].numpy()).save(path)
    assert predict(model, path, 3)["digit"] == int(digits[1][0])
    assert model.training
