"""Pictures of the network itself: the roadmap the notebook returns to, and
the autograd graph drawn by torchviz.

Both return something a notebook shows as a cell's value (a `Picture`, PNG
bytes) and, given a path, also write a PNG there atomically.
"""

import copy
import io
import shutil
from pathlib import Path

import torch
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch
from PIL import Image as PILImage

from .data import one_hot
from .evaluation import eval_mode
from .machinery import MnistSumError
from .machinery.checkpoint import atomic_path

HIGHLIGHT, PLAIN = "#ffd866", "#e8eef7"
INSTALL_DOT = "install Graphviz (apt-get install graphviz, brew install graphviz or conda install graphviz)"

# The roadmap's boxes: (name, text, x, y) in a 10 x 3 frame, and the arrows between them.
ROADMAP = [
    ("image", "image\n28x28", 0.9, 2.1),
    ("cnn", "CNN\n(DigitCNN)", 3.0, 2.1),
    ("digit", "P(digit)\n10 values", 5.5, 2.1),
    ("number", "number 0-9\none-hot, 10", 0.9, 0.7),
    ("adder", "adder\n(20 -> 19)", 7.6, 1.4),
    ("sum", "sum\n0-18", 9.4, 1.4),
]
ARROWS = [("image", "cnn"), ("cnn", "digit"), ("digit", "adder"), ("number", "adder"), ("adder", "sum")]


def compact_png(fig, dpi=80):
    """A Figure as PNG bytes with a 256-colour palette: a third of the size, the same to the eye.
    The notebook shows its figures this way, so the committed file stays small."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    return palette_png(buffer.getvalue())


def palette_png(png, colors=256):
    """PNG bytes re-encoded with a palette of `colors`: figures and diagrams have few colours."""
    small = io.BytesIO()
    PILImage.open(io.BytesIO(png)).convert("RGB").quantize(colors).save(small, format="png", optimize=True)
    return small.getvalue()


def write_png(png, path):
    """PNG bytes to `path` via a temporary file and a rename: never half a picture on disk."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_bytes(png)
    return path


def save_png(fig, path):
    return write_png(compact_png(fig, dpi=100), path)


class Picture:
    """A finished figure: a notebook shows it as a compact PNG (its `_repr_png_`), with no plotting backend or
    display hook needed; `.figure` is the matplotlib Figure, for anyone who wants to change it."""

    def __init__(self, figure):
        self.figure = figure

    def _repr_png_(self):
        return compact_png(self.figure)

    def __repr__(self):  # the text a notebook keeps beside the picture: the same on every run, no memory address
        return repr(self.figure)


def finish(fig, path):
    if path is not None:
        save_png(fig, path)
    return Picture(fig)


def roadmap(highlight=(), title=None, path=None):
    """Image -> CNN -> digit probabilities, joined with the one-hot number -> adder -> sum.
    The boxes named in `highlight` are drawn in yellow: the part a section is about."""
    fig = Figure(figsize=(9, 2.4))
    ax = fig.subplots()
    ax.set(xlim=(0, 10.2), ylim=(0.1, 2.8))
    ax.axis("off")
    centres = {}
    for name, text, x, y in ROADMAP:
        colour = HIGHLIGHT if name in highlight else PLAIN
        ax.add_patch(FancyBboxPatch((x - 0.75, y - 0.38), 1.5, 0.76, boxstyle="round,pad=0.05",
                                    facecolor=colour, edgecolor="#333333", lw=1.8 if name in highlight else 0.8))
        ax.text(x, y, text, ha="center", va="center", fontsize=10, weight="bold" if name in highlight else "normal")
        centres[name] = (x, y)
    for start, end in ARROWS:
        (x0, y0), (x1, y1) = centres[start], centres[end]
        ax.annotate("", xy=(x1 - 0.8, y1 + 0.25 * (y0 - y1)), xytext=(x0 + 0.8, y0),
                    arrowprops={"arrowstyle": "-|>", "color": "#333333", "lw": 1.2})
    ax.text(5.0, 1.47, "probabilities, not the argmax:\nthe sum's loss also trains the CNN", ha="center",
            va="center", fontsize=8, style="italic", color="#555555")
    if title:
        ax.set_title(title, fontsize=11, loc="left")
    return finish(fig, path)


def roadmap_text(*parts):
    """The roadmap as one line of text, the parts a section is about in [[brackets]]."""
    shown = {name: text.replace("\n", " ") for name, text, _, _ in ROADMAP}
    for name in parts:
        shown[name] = f"[[{shown[name]}]]"
    top = f"{shown['image']} -> {shown['cnn']} -> {shown['digit']} --+"
    bottom = f"{shown['number']} ".ljust(len(top) - 1, "-") + f"+--> {shown['adder']} -> {shown['sum']}"
    return top + "\n" + bottom


def have_dot():
    return shutil.which("dot") is not None


def model_graph(model, path=None):
    """The autograd graph of one forward pass, drawn by torchviz; returns PNG bytes.

    Both inputs and both outputs are named nodes: inputs yellow, operations
    gray (each named by the function that computes its gradient), outputs green. Raises
    MnistSumError with the install command when Graphviz's `dot` is missing.
    """
    if not have_dot():
        raise MnistSumError(f"the architecture graph needs Graphviz's `dot`, which is not installed: {INSTALL_DOT}")
    from torchviz import make_dot

    # the weights are frozen in a copy, so only the path of the data is drawn: a graph that also shows
    # each weight and its gradient accumulator is three times as wide and unreadable at any size that fits
    frozen = copy.deepcopy(model).requires_grad_(False)
    image = torch.zeros(1, 1, 28, 28, requires_grad=True)  # requires_grad: so the graph draws it
    number = one_hot(torch.tensor([3])).requires_grad_()
    with eval_mode(frozen):
        digit_log_probs, sum_log_probs = frozen(image, number)
    names = {"image": image, "number (one-hot)": number, "OUTPUT: digit log-probs": digit_log_probs,
             "OUTPUT: sum log-probs": sum_log_probs}
    graph = make_dot((digit_log_probs, sum_log_probs), params=names)
    for tensor, label in ((image, "INPUT: image"), (number, "INPUT: number (one-hot)")):
        shape = "(" + ", ".join(map(str, tensor.shape)) + ")"
        graph.node(str(id(tensor)), f"{label}\n{shape}", fillcolor=HIGHLIGHT)
    graph.graph_attr.update(size="", dpi="60", ranksep="0.15", nodesep="0.3")
    graph.node_attr.update(fontsize="13", fontname="Helvetica")
    png = palette_png(graph.pipe(format="png"), colors=64)  # a fifth of the size, the same to the eye
    if path is not None:
        write_png(png, path)
    return png
