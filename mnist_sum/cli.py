"""The command line: python -m mnist_sum {train,evaluate,predict,demo,figures} ...

Every problem a user can fix ends as one line on stderr and exit code 2;
an interrupted training run exits 130 after saying how to resume.
"""

import argparse
import json
import os
import sys
from dataclasses import fields
from functools import partial

from .config import ADDERS, KINDS, PRESETS, TrainConfig
from .data import MNISTRandomNumber
from .evaluation import evaluate
from .machinery import MnistSumError
from .machinery.checkpoint import DEFAULT_OUT, load_model
from .machinery.runtime import DEVICES, TrainingInterrupted, check_port_free, pick_device
from .predict import predict
from .training import train

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    """argparse, but its errors are one line like ours."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def _checked(convert, is_valid, expected):
    """An argparse type: convert the text, then check it, with one clear message for both."""
    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not is_valid(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value
    return parse


def _pairs(text):
    """'0+1,1+4' -> ((0, 1), (1, 4))"""
    try:
        pairs = tuple(tuple(int(v) for v in item.split("+")) for item in text.split(",") if item.strip())
    except ValueError:
        pairs = None
    if pairs is None or not all(len(p) == 2 and all(0 <= v <= 9 for v in p) for p in pairs):
        raise argparse.ArgumentTypeError(f"expected digit+number pairs such as 0+1,1+4, got {text!r}")
    return pairs


def _add_settings(parser, preset):
    """One option per TrainConfig field: its name, checks and help come from there, its default from the preset."""
    parser.add_argument("--preset", choices=PRESETS, default=preset,
                        help="the settings every option below starts from; options given override them")
    for f in fields(TrainConfig):
        kind, default = f.metadata.get("kind"), getattr(PRESETS[preset], f.name)
        option = "--" + f.name.replace("_", "-")
        if f.name == "adder":
            parser.add_argument(option, choices=ADDERS, default=default, help=f.metadata["help"])
        elif f.name == "held_out_pairs":
            parser.add_argument(option, type=_pairs, default=default, metavar="PAIRS", help=f.metadata["help"])
        else:
            convert, is_valid = KINDS[kind]
            parser.add_argument(option, type=_checked(convert, is_valid, kind), default=default,
                                metavar=f.name.split("_")[-1].upper(), help=f.metadata["help"])


def _preset_in(argv):
    """The --preset named on the command line, read first, since it sets the other options' defaults."""
    finder = _Parser(prog="python -m mnist_sum train", add_help=False)
    finder.add_argument("--preset", choices=PRESETS, default="default")
    return finder.parse_known_args(argv)[0].preset


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except where there is none to show."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or action.default == ():
            return action.help
        return super()._get_help_string(action)


_digit = _checked(int, lambda v: 0 <= v <= 9, "an integer from 0 to 9")
_DEVICE_HELP = "auto: cuda, else mps, else cpu"
_CHECKPOINT_HELP = f"a file written by train (default: {DEFAULT_OUT} if you trained one, else the weights shipped " \
                   "with mnist_sum)"


def build_parser(preset="default"):
    parser = _Parser(prog="python -m mnist_sum", description="Read an MNIST digit and add a random number 0-9 to it.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")
    add = partial(commands.add_parser, formatter_class=_HelpFormatter)

    train = add("train", help="train a SumNet on MNIST and save a checkpoint after every epoch")
    _add_settings(train.add_argument_group("settings (mnist_sum.TrainConfig)"), preset)
    run = train.add_argument_group("where and how")
    run.add_argument("--data-dir", default=None, help="MNIST folder (default: $MNIST_SUM_DATA or ./data)")
    run.add_argument("--out", default=DEFAULT_OUT, help="checkpoint file")
    run.add_argument("--device", choices=DEVICES, default="auto", help=_DEVICE_HELP)
    run.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    run.add_argument("--compile", action="store_true", help="run the training step through torch.compile")
    run.add_argument("--json", action="store_true", help="print the per-epoch history as one JSON object")

    evaluate = add("evaluate", help="test-set accuracy of a checkpoint")
    evaluate.add_argument("--checkpoint", help=_CHECKPOINT_HELP)
    evaluate.add_argument("--data-dir", default=None, help="MNIST folder (default: $MNIST_SUM_DATA or ./data)")
    evaluate.add_argument("--device", choices=DEVICES, default="auto", help=_DEVICE_HELP)
    evaluate.add_argument("--tta", action="store_true", help="test-time augmentation: average the digit "
                          "probabilities over the image and 4 copies moved one pixel (5x the work)")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")

    predict = add("predict", help="read the digit in an image file and add NUMBER")
    predict.add_argument("--checkpoint", help=_CHECKPOINT_HELP)
    predict.add_argument("image", metavar="IMAGE", help="PNG or JPEG of one handwritten digit")
    predict.add_argument("number", metavar="NUMBER", type=_digit, help="integer 0-9")
    predict.add_argument("--json", action="store_true", help="print one JSON object")

    demo = add("demo", help="serve a page where you draw a digit and pick a number (needs mnist-sum[demo])")
    demo.add_argument("--checkpoint", help=_CHECKPOINT_HELP)
    demo.add_argument("--host", default="127.0.0.1", help="address to serve on; 0.0.0.0 lets other machines in")
    demo.add_argument("--port", type=_checked(int, lambda v: 1 <= v <= 65535, "a port from 1 to 65535"),
                      default=7860, help="port to serve on")

    figures = add("figures", help="draw the figures of a trained checkpoint")
    figures.add_argument("--checkpoint", help=_CHECKPOINT_HELP)
    figures.add_argument("--data-dir", default=None, help="MNIST folder (default: $MNIST_SUM_DATA or ./data)")
    figures.add_argument("--out-dir", default="images", help="folder for the PNG files")
    return parser


def run(args):
    if args.command == "train":
        config = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
        log = (lambda line: print(line, file=sys.stderr)) if args.json else print  # stdout holds only the JSON
        _, history = train(config, data_dir=args.data_dir, out=args.out, device=args.device, resume=args.resume,
                           compile=args.compile, log=log)
        print(f"saved {args.out}", file=sys.stderr)
        if args.json:
            print(json.dumps({"checkpoint": args.out, "history": history}))
    elif args.command == "evaluate":
        device = pick_device(args.device)
        model = load_model(args.checkpoint, device)
        metrics = evaluate(model, MNISTRandomNumber(train=False, root=args.data_dir), tta=args.tta)
        if args.json:
            print(json.dumps({**metrics, "tta": args.tta}))
        else:
            print(f"digit accuracy:            {100 * metrics['digit_accuracy']:.2f}%")
            print(f"sum accuracy (test pairs): {100 * metrics['sum_accuracy']:.2f}%")
            print(f"sum accuracy (all 100,000 pairs): {100 * metrics['sum_accuracy_all_pairs']:.2f}%")
    elif args.command == "predict":
        result = predict(load_model(args.checkpoint), args.image, args.number)
        if args.json:
            print(json.dumps(result))
        else:
            print(f"digit {result['digit']} (p={result['digit_probability']:.3f}), "
                  f"{result['digit']} + {args.number} = {result['sum']} (p={result['sum_probability']:.3f})")
    elif args.command == "demo":
        model = load_model(args.checkpoint)  # before the server starts, with the usual one-line errors
        check_port_free(args.host, args.port)  # before Gradio's import, which takes seconds
        try:
            from . import demo  # only this command needs Gradio, an optional extra
        except ModuleNotFoundError as e:
            raise MnistSumError(f"the demo needs Gradio ({e}); install it with: pip install \"mnist-sum[demo]\"") \
                from None
        demo.serve(model, args.host, args.port)
    elif args.command == "figures":
        from .plots import draw_all  # matplotlib: imported only by the command that draws

        draw_all(args.checkpoint, args.data_dir, args.out_dir, log=print)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(_preset_in(argv)).parse_args(argv)
    try:
        run(args)
    except TrainingInterrupted as e:
        print(f"mnist_sum: {e}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except MnistSumError as e:
        print(f"mnist_sum: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("mnist_sum: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader stopped early (`... --json | head`): end quietly, as other tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's flush at exit would fail again
        return 1
    return 0
