"""Draw a digit, pick a number: the trained network as a web page (Gradio).

Reading order: `answer`, which turns a drawing and a number into what the
page shows (through `predict`, so the preprocessing is the one `predict`
uses), then `build`, the page itself, then `serve`. Gradio is the optional
extra `mnist-sum[demo]`; nothing else in the package needs it.
"""

from functools import partial

import gradio as gr
import torch

from .data import NUM_DIGITS, NUM_SUMS
from .machinery import MnistSumError
from .machinery.runtime import check_port_free
from .predict import predict, read_digit

SMALLEST_STROKE = 0.08  # the ink must span at least this share of the canvas to be read as a digit

# Gradio's Sketchpad starts with no tool picked ("select the draw tool to start"), and no option changes that:
# once the page has drawn the canvas, pick its brush, so the first stroke draws.
PICK_THE_BRUSH = """() => {
  const pick = (tries) => {
    const brush = [...document.querySelectorAll('#canvas button')]
      .find((b) => [b.getAttribute('aria-label'), b.title].includes('Brush'));
    if (brush) brush.click(); else if (tries > 0) setTimeout(() => pick(tries - 1), 100);
  };
  pick(100);
}"""


def answer(model, drawing, number):
    """(markdown answer, digit probabilities, sum probabilities, the 28x28 input) for one drawing.
    A drawing the network cannot read gets one message in the answer's place and empty panels, not an error
    badge on every panel: the page answers while the user draws, so half a digit is normal, not a failure."""
    image = drawing.get("composite") if isinstance(drawing, dict) else drawing
    share = 0.0 if image is None else _ink_share(image)
    if share == 0:
        return _refusal("Draw a digit in the square.")
    if share < SMALLEST_STROKE:
        return _refusal("That stroke is too small to read: draw the digit larger, filling most of the square.")
    try:
        digit_image = read_digit(image)
        result = predict(model, digit_image, int(number))
    except MnistSumError as e:
        return _refusal(str(e))
    text = (f"**digit {result['digit']}** ({100 * result['digit_probability']:.1f}%) + {result['number']} = "
            f"**sum {result['sum']}** ({100 * result['sum_probability']:.1f}%)")
    digits = {str(d): p for d, p in zip(range(NUM_DIGITS), result["digit_probabilities"])}
    sums = {str(s): p for s, p in zip(range(NUM_SUMS), result["sum_probabilities"])}
    big = digit_image.repeat_interleave(6, 0).repeat_interleave(6, 1)  # 28x28 shown as 168x168, pixels kept sharp
    return text, digits, sums, (big * 255).round().to(torch.uint8).numpy()


def _refusal(message):
    return f"*{message}*", None, None, None


def _ink_share(image):
    """How much of the canvas the drawing's bounding box spans, along its longer side (0 if blank)."""
    gray = image.convert("RGBA").getchannel("A") if image.mode in ("RGBA", "LA") else image.convert("L")
    box = gray.getbbox()
    if box is None:
        return 0.0
    return max(box[2] - box[0], box[3] - box[1]) / max(image.size)


def build(model):
    """The page: a canvas and a number in, the answer, both distributions and the network's input out."""
    with gr.Blocks(title="mnist-sum: draw a digit, pick a number") as page:
        gr.Markdown("## Draw a digit, pick a number\nThe network reads your digit and adds the number to it.")
        with gr.Row():
            canvas = gr.Sketchpad(label="draw one digit", type="pil", canvas_size=(280, 280), sources=(),
                                  transforms=(), layers=False,
                                  brush=gr.Brush(default_size=18, colors=["#000000"], color_mode="fixed"),
                                  elem_id="canvas")
            with gr.Column():
                number = gr.Slider(0, 9, value=5, step=1, label="number", elem_id="number")
                button = gr.Button("Read and add", variant="primary", elem_id="read")
                shown = gr.Markdown(elem_id="answer")
                seen = gr.Image(label="the 28x28 input the network receives", image_mode="L", height=220,
                                elem_id="seen")
        with gr.Row():
            digit_chart = gr.Label(num_top_classes=NUM_DIGITS, label="digit probabilities", elem_id="digits")
            sum_chart = gr.Label(num_top_classes=5, label="sum probabilities (top 5)", elem_id="sums")
        inputs, outputs = [canvas, number], [shown, digit_chart, sum_chart, seen]
        read = partial(answer, model)
        # the answer follows the drawing: after each stroke and each new number (only the latest if they
        # come faster than the model answers); the button stays for those who prefer to ask
        for event in (canvas.change, number.change):
            event(read, inputs, outputs, trigger_mode="always_last", show_progress="hidden")
        button.click(read, inputs, outputs)
        page.load(None, js=PICK_THE_BRUSH)
    return page


def serve(model, host="127.0.0.1", port=7860):
    check_port_free(host, port)
    print(f"serving the demo on http://{host}:{port} (Ctrl-C stops it)", flush=True)
    build(model).launch(server_name=host, server_port=port, quiet=True)
