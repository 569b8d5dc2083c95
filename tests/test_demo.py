"""The drawing page: its messages for unreadable drawings, and a real browser drawing a test digit on it."""

import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from io import BytesIO

import numpy as np
import pytest
from PIL import Image

from mnist_sum import load_model, predict
from mnist_sum.data import load_mnist

pytest.importorskip("gradio", reason="the demo is the optional extra mnist-sum[demo]")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_blank_and_tiny_drawings_get_a_message_and_empty_panels(shipped):
    from mnist_sum.demo import answer

    model = load_model(shipped)
    blank = Image.new("RGBA", (280, 280), (0, 0, 0, 0))
    tiny = blank.copy()
    tiny.paste((0, 0, 0, 255), (140, 140, 146, 146))
    for drawing, message in ((None, "Draw a digit"), ({"composite": blank}, "Draw a digit"),
                             ({"composite": tiny}, "larger")):
        text, digits, sums, seen = answer(model, drawing, 5)
        assert message in text and digits is None and sums is None and seen is None


@pytest.fixture(scope="module")
def page_url(shipped):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "mnist_sum", "demo", "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 120
    while time.time() < deadline and server.poll() is None:
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            time.sleep(0.5)
    assert server.poll() is None, server.stdout.read()
    yield url
    server.terminate()
    server.wait(timeout=30)


def paper(canvas):
    """The white drawing square inside the canvas element, in page coordinates: the editor frames it
    with a light-gray shadow, so it lies between the rows and columns of shadow."""
    box = canvas.bounding_box()
    shot = Image.open(BytesIO(canvas.screenshot())).convert("L")
    gray = np.asarray(shot)
    shadow = (gray >= 240) & (gray <= 254)
    width, height = shot.size
    cols, rows = shadow.sum(0).tolist(), shadow.sum(1).tolist()
    edge = 0.5 * max(cols)
    left = max(x for x in range(width // 2) if cols[x] > edge) + 1
    right = min(x for x in range(width // 2, width) if cols[x] > edge)
    top = max(y for y in range(height // 2) if rows[y] > edge) + 1
    bottom = min(y for y in range(height // 2, height) if rows[y] > edge)
    scale = box["width"] / width
    return {"x": box["x"] + left * scale, "y": box["y"] + top * scale,
            "width": (right - left) * scale, "height": (bottom - top) * scale}


def draw(page, box, digit):
    """Draw an MNIST digit with the mouse, one stroke per run of ink in each row."""
    cell = min(box["width"], box["height"]) / 28
    for row in range(28):
        ink, start = (digit[row] > 160).tolist() + [False], None
        for col, on in enumerate(ink):
            if on and start is None:
                start = col
            elif not on and start is not None:
                y = box["y"] + (row + 0.5) * cell
                page.mouse.move(box["x"] + (start + 0.5) * cell, y)
                page.mouse.down()
                page.mouse.move(box["x"] + (col - 0.5) * cell + 0.01, y, steps=max(2, col - start))
                page.mouse.up()
                start = None


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium); CI installs it")
def test_a_real_browser_draws_a_digit_and_the_page_shows_what_predict_says(page_url, shipped, data_dir):
    from playwright.sync_api import expect, sync_playwright

    images, labels = load_mnist(train=False, root=data_dir)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(page_url)
        canvas = page.locator("#canvas canvas").last
        expect(canvas).to_be_visible(timeout=60_000)
        number = page.locator("#number input[type=number]")
        number.fill("5")
        number.press("Enter")
        box = paper(canvas)
        draw(page, box, images[0])  # a 7, drawn straight away: no tool to pick first
        answer = page.locator("#answer")
        expect(answer).to_contain_text("sum", timeout=60_000)
        text = None
        while text != answer.inner_text():  # answers to earlier strokes may still arrive
            text = answer.inner_text()
            page.wait_for_timeout(2000)
        drawn = Image.open(BytesIO(page.screenshot(clip=box)))
        browser.close()
    digit, total = map(int, re.search(r"digit (\d+).*sum (\d+)", text).groups())
    expected = predict(load_model(shipped), drawn, 5)
    assert (digit, total) == (expected["digit"], expected["sum"]), (text, expected)
    assert digit == int(labels[0]) and total == digit + 5, text
