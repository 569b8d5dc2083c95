"""Draw a digit, pick a number: the trained network as a web page (Gradio, the `demo` extra).

`answer` turns a drawing and a number into what the page shows, through
`predict`, so the page and the command line read images the same way.
"""

from functools import partial

import gradio as gr

from .data import NUM_DIGITS, NUM_SUMS
from .predict import predict, read_digit

# Gradio's Sketchpad starts with no tool picked: pick the brush once the page is drawn, so the first stroke draws
PICK_THE_BRUSH = """() => {
  const pick = (tries) => {
    const brush = [...document.querySelectorAll('#canvas button')]
      .find((b) => [b.getAttribute('aria-label'), b.title].includes('Brush'));
    if (brush) brush.click(); else if (tries > 0) setTimeout(() => pick(tries - 1), 100);
  };
  pick(100);
}"""


def answer(model, drawing, number):
    """(markdown answer, digit probabilities, sum probabilities, the 28x28 input) for one drawing."""
    image = drawing.get("composite") if isinstance(drawing, dict) else drawing
    ink = None if image is None else image.getchannel("A") if image.mode == "RGBA" else image.convert("L")
    box = None if ink is None else ink.getbbox()
    if not box:
        return "*Draw a digit in the square.*", None, None, None
    if max(box[2] - box[0], box[3] - box[1]) < 0.08 * max(image.size):  # a dot, or the start of a stroke
        return "*Draw the digit larger, filling most of the square.*", None, None, None
    try:
        digit_image = read_digit(image)
    except ValueError as e:
        return f"*{e}*", None, None, None
    result = predict(model, digit_image, int(number))
    text = (f"**digit {result['digit']}** ({100 * result['digit_probability']:.1f}%) + {result['number']} = "
            f"**sum {result['sum']}** ({100 * result['sum_probability']:.1f}%)")
    digits = dict(zip(map(str, range(NUM_DIGITS)), result["digit_probabilities"]))
    sums = dict(zip(map(str, range(NUM_SUMS)), result["sum_probabilities"]))
    big = digit_image.repeat_interleave(6, 0).repeat_interleave(6, 1)  # 28x28 shown at 168x168, pixels sharp
    return text, digits, sums, (big * 255).round().byte().numpy()


def build(model):
    with gr.Blocks(title="mnist-sum: draw a digit, pick a number") as page:
        gr.Markdown("## Draw a digit, pick a number\nThe network reads your digit and adds the number to it.")
        with gr.Row():
            canvas = gr.Sketchpad(label="draw one digit", type="pil", canvas_size=(280, 280), sources=(),
                                  transforms=(), layers=False, elem_id="canvas",
                                  brush=gr.Brush(default_size=18, colors=["#000000"], color_mode="fixed"))
            with gr.Column():
                number = gr.Slider(0, 9, value=5, step=1, label="number", elem_id="number")
                shown = gr.Markdown(elem_id="answer")
                seen = gr.Image(label="the 28x28 input the network receives", image_mode="L", height=220)
        with gr.Row():
            digit_chart = gr.Label(num_top_classes=NUM_DIGITS, label="digit probabilities", elem_id="digits")
            sum_chart = gr.Label(num_top_classes=5, label="sum probabilities (top 5)", elem_id="sums")
        # the answer follows the drawing, after every stroke and every new number
        for event in (canvas.change, number.change):
            event(partial(answer, model), [canvas, number], [shown, digit_chart, sum_chart, seen],
                  trigger_mode="always_last", show_progress="hidden")
        page.load(None, js=PICK_THE_BRUSH)
    return page


def serve(model, port=7860):
    print(f"serving the demo on http://127.0.0.1:{port} (Ctrl-C stops it)", flush=True)
    build(model).launch(server_name="127.0.0.1", server_port=port, quiet=True)
