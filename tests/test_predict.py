"""`predict` on real MNIST digits shown as people would scan, photograph or draw them."""

import pytest
import torch
from PIL import Image

from mnist_sum import load_model, predict
from mnist_sum.data import load_mnist
from mnist_sum.predict import read_digit

COUNT = 40


@pytest.fixture(scope="module")
def digits(data_dir):
    images, labels = load_mnist(train=False, root=data_dir)
    return images[:COUNT], labels[:COUNT]


def scan(digit):
    """Dark ink on white paper, 8x larger, off-centre on a wide sheet."""
    sheet = Image.new("L", (500, 320), 255)
    sheet.paste(Image.fromarray((255 - digit).numpy()).resize((224, 224), Image.BILINEAR), (40, 70))
    return sheet


def chalk(digit):
    """Light on dark like MNIST itself, near the corner of a wide blackboard."""
    board = Image.new("L", (260, 140), 0)
    board.paste(Image.fromarray(digit.numpy()).resize((112, 112), Image.BICUBIC), (140, 10))
    return board


def blue_ink(digit):
    """Blue ink on cream paper, in colour."""
    ink = digit.float()[..., None] / 255
    rgb = torch.tensor([250.0, 240, 200]) * (1 - ink) + torch.tensor([20.0, 40, 160]) * ink
    return Image.fromarray(rgb.round().byte().numpy()).resize((112, 112))


def transparent(digit):
    """Black ink on a transparent background, as drawing apps export it."""
    rgba = torch.zeros(28, 28, 4, dtype=torch.uint8)
    rgba[..., 3] = digit
    return Image.fromarray(rgba.numpy()).resize((84, 84))


FORMS = {"scan.png": scan, "scan.jpg": scan, "chalk.png": chalk, "blue.jpg": blue_ink,
         "transparent.png": transparent}


def similarity(a, b):
    a, b = a.flatten() - a.mean(), b.flatten() - b.mean()
    return float(a @ b / (a.norm() * b.norm()))


@pytest.mark.parametrize("form", FORMS)
def test_each_form_is_read_back_as_the_mnist_digit_and_predicted(digits, shipped, form, tmp_path):
    model = load_model(shipped)
    images, labels = digits
    scores, right = [], 0
    for i in range(COUNT):
        path = tmp_path / f"{i}-{form}"
        FORMS[form](images[i]).save(path)
        scores.append(similarity(read_digit(path), images[i].float() / 255))
        result = predict(model, path, i % 10)
        right += result["digit"] == labels[i] and result["sum"] == labels[i] + i % 10
    assert sum(scores) / COUNT > 0.9, f"{form}: mean similarity {sum(scores) / COUNT:.3f}"
    assert right >= 0.85 * COUNT, f"{form}: {right}/{COUNT} digits and sums right"


def test_an_image_without_ink_is_refused(tmp_path):
    Image.new("L", (64, 64), 255).save(tmp_path / "blank.png")
    with pytest.raises(ValueError, match="no digit"):
        read_digit(tmp_path / "blank.png")


def test_predict_leaves_the_model_in_the_mode_it_found(digits, shipped, tmp_path):
    model = load_model(shipped).train()
    Image.fromarray(digits[0][0].numpy()).save(tmp_path / "digit.png")
    assert predict(model, tmp_path / "digit.png", 3)["digit"] == int(digits[1][0])
    assert model.training
