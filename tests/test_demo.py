"""The drawing page: its one-line refusals, and a real browser drawing a real test digit on it."""

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from io import BytesIO

import pytest
from PIL import Image

from mnist_sum import load_model, predict
from mnist_sum.data import load_mnist

from conftest import assert_clean_error, run_cli

pytest.importorskip("gradio", reason="the demo is the optional extra mnist-sum[demo]")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_missing_checkpoint_is_refused_before_the_server_starts(tmp_path, cli):
    assert_clean_error(cli("demo", "--checkpoint", tmp_path / "none.pt"), "not found", "train")


def test_a_foreign_checkpoint_is_refused_before_the_server_starts(tmp_path, cli):
    path = tmp_path / "other.pt"
    path.write_bytes(b"\x00not a checkpoint" * 100)
    assert_clean_error(cli("demo", "--checkpoint", path), "not a PyTorch file")


@pytest.mark.slow
def test_a_port_in_use_is_named_in_one_line(trained_checkpoint):
    """In a fresh process: the server would start in this one if the check failed."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("demo", "--checkpoint", trained_checkpoint, "--port", port, timeout=60)
    assert_clean_error(result, f"port {port}", "in use")


def test_blank_and_tiny_drawings_get_one_message_and_empty_panels(trained_checkpoint):
    from mnist_sum.demo import answer

    model = load_model(trained_checkpoint)
    blank = Image.new("RGBA", (280, 280), (0, 0, 0, 0))
    tiny = blank.copy()
    tiny.paste((0, 0, 0, 255), (140, 140, 146, 146))
    for drawing, message in ((None, "Draw a digit"), ({"composite": blank}, "Draw a digit"),
                             ({"composite": tiny}, "too small to read")):
        text, digits, sums, seen = answer(model, drawing, 5)
        assert message in text
        assert digits is None and sums is None and seen is None  # the panels stay empty, no error badges


@pytest.fixture(scope="module")
def page_url(trained_checkpoint):
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "mnist_sum", "demo", "--checkpoint", str(trained_checkpoint),
                               "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
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


def _paper(canvas):
    """The white drawing square inside the editor's canvas element, in page coordinates: the
    editor frames it with a light-gray shadow, so it lies between the rows and columns of shadow."""
    box = canvas.bounding_box()
    shot = Image.open(BytesIO(canvas.screenshot())).convert("L")
    shadow = shot.point(lambda v: 1 if 240 <= v <= 254 else 0)
    width, height = shot.size
    cols = [sum(shadow.crop((x, 0, x + 1, height)).getdata()) for x in range(width)]
    rows = [sum(shadow.crop((0, y, width, y + 1)).getdata()) for y in range(height)]
    edge = 0.5 * max(cols)
    left = max(x for x in range(width // 2) if cols[x] > edge) + 1
    right = min(x for x in range(width // 2, width) if cols[x] > edge)
    top = max(y for y in range(height // 2) if rows[y] > edge) + 1
    bottom = min(y for y in range(height // 2, height) if rows[y] > edge)
    scale = box["width"] / width  # screenshot pixels to page pixels
    return {"x": box["x"] + left * scale, "y": box["y"] + top * scale,
            "width": (right - left) * scale, "height": (bottom - top) * scale}


def _draw(page, box, digit):
    """Draw an MNIST digit onto the paper at `box` with the mouse, one stroke per run of ink in each row."""
    cell = min(box["width"], box["height"]) / 28
    for row in range(28):
        ink = (digit[row] > 160).tolist() + [False]  # the core of the stroke: the brush adds the width
        start = None
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


def _settled_text(page, locator, quiet_ms=2000, timeout_s=60):
    """The locator's text once it has stopped changing for `quiet_ms`."""
    deadline, text = time.time() + timeout_s, None
    while time.time() < deadline:
        previous, text = text, locator.inner_text()
        if text == previous:
            return text
        page.wait_for_timeout(quiet_ms)
    raise AssertionError(f"the answer kept changing for {timeout_s} s; last: {text!r}")


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium); CI installs it")
def test_a_real_browser_draws_a_test_digit_and_the_page_shows_what_predict_says(page_url, trained_checkpoint,
                                                                                 data_dir, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    images, labels = load_mnist(train=False, root=data_dir)
    model = load_model(trained_checkpoint)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(page_url)
        canvas = page.locator("#canvas canvas").last
        expect(canvas).to_be_visible(timeout=60_000)

        page.locator("#read").click()  # nothing drawn yet: one message, no error badge anywhere
        expect(page.locator("#answer")).to_contain_text("Draw a digit", timeout=30_000)
        expect(page.get_by_text("Error", exact=True)).to_have_count(0)

        number = page.locator("#number input[type=number]")
        number.fill("5")
        number.press("Enter")
        paper = _paper(canvas)
        _draw(page, paper, images[0])  # a 7, drawn straight away: no tool to pick, no button to press
        expect(page.locator("#answer")).to_contain_text("sum", timeout=60_000)
        shown = _settled_text(page, page.locator("#answer"))  # answers to earlier strokes may still arrive
        drawn = Image.open(BytesIO(page.screenshot(clip=paper)))  # the drawing, as the server received it
        # MNIST_SUM_DEMO_SCREENSHOT=images/demo.png makes this run the README's screenshot
        page.screenshot(path=os.environ.get("MNIST_SUM_DEMO_SCREENSHOT") or tmp_path / "demo.png")
        browser.close()

    digit, total = map(int, re.search(r"digit (\d+).*sum (\d+)", shown).groups())
    expected = predict(model, drawn, 5)
    assert (digit, total) == (expected["digit"], expected["sum"]), (shown, expected)
    assert digit == int(labels[0]) and total == digit + 5, shown
