"""The command line: python -m mnist_sum {train,evaluate,predict,figures} ...

Every problem a user can fix ends as one line on stderr and exit code 2;
an interrupted training run exits 130 after saying how to resume.
"""

import argparse
import json
import sys

from .errors import MnistSumError

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


_positive_int = _checked(int, lambda v: v >= 1, "a positive integer")
_non_negative_int = _checked(int, lambda v: v >= 0, "a non-negative integer")
_positive_float = _checked(float, lambda v: 0 < v < float("inf"), "a positive number")  # NaN fails too
_digit = _checked(int, lambda v: 0 <= v <= 9, "an integer from 0 to 9")


def build_parser():
    from .training import DEFAULT_OUT, DEFAULTS

    parser = _Parser(prog="python -m mnist_sum", description="Read an MNIST digit and add a random number 0-9 to it.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")

    train = commands.add_parser("train", help="train a SumNet on MNIST and save a checkpoint")
    train.add_argument("--epochs", type=_positive_int, default=DEFAULTS["epochs"])
    train.add_argument("--batch-size", type=_positive_int, default=DEFAULTS["batch_size"])
    train.add_argument("--lr", type=_positive_float, default=DEFAULTS["lr"], help="peak learning rate of the one-cycle schedule")
    train.add_argument("--seed", type=_non_negative_int, default=DEFAULTS["seed"],
                       help="fixes data order, random numbers and weights")
    train.add_argument("--data-dir", default=None, help="MNIST folder (default: $MNIST_SUM_DATA or ./data)")
    train.add_argument("--out", default=DEFAULT_OUT, help=f"checkpoint file (default: {DEFAULT_OUT})")
    train.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    train.add_argument("--limit", type=_positive_int, default=None, help="train on the first N training images only")
    train.add_argument("--adder", choices=["learned", "exact"], default=DEFAULTS["adder"])
    train.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    train.add_argument("--compile", action="store_true", help="run the training step through torch.compile")
    train.add_argument("--json", action="store_true", help="print the per-epoch history as one JSON object")

    evaluate = commands.add_parser("evaluate", help="test-set accuracy of a checkpoint")
    evaluate.add_argument("--checkpoint", required=True)
    evaluate.add_argument("--data-dir", default=None)
    evaluate.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")

    predict = commands.add_parser("predict", help="read the digit in an image file and add NUMBER")
    predict.add_argument("--checkpoint", required=True)
    predict.add_argument("image", metavar="IMAGE", help="PNG or JPEG of one handwritten digit")
    predict.add_argument("number", metavar="NUMBER", type=_digit, help="integer 0-9")
    predict.add_argument("--json", action="store_true", help="print one JSON object")

    figures = commands.add_parser("figures", help="draw the figures of a trained checkpoint into images/")
    figures.add_argument("--checkpoint", default=DEFAULT_OUT)
    figures.add_argument("--data-dir", default=None)
    figures.add_argument("--out-dir", default="images")
    return parser


def run(args):
    if args.command == "train":
        from .training import train

        _, history = train(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                           data_dir=args.data_dir, out=args.out, device=args.device, limit=args.limit,
                           adder=args.adder, resume=args.resume, compile=args.compile,
                           log=(lambda line: print(line, file=sys.stderr)) if args.json else print)
        print(f"saved {args.out}", file=sys.stderr)
        if args.json:
            print(json.dumps({"checkpoint": args.out, "history": history}))
    elif args.command == "evaluate":
        from .checkpoint import load_model
        from .data import MNISTRandomNumber
        from .training import evaluate, pick_device

        device = pick_device(args.device)
        model = load_model(args.checkpoint, device)
        metrics = evaluate(model, MNISTRandomNumber(train=False, root=args.data_dir), device)
        if args.json:
            print(json.dumps(metrics))
        else:
            print(f"digit accuracy:            {100 * metrics['digit_accuracy']:.2f}%")
            print(f"sum accuracy (test pairs): {100 * metrics['sum_accuracy']:.2f}%")
            print(f"sum accuracy (all 100,000 pairs): {100 * metrics['sum_accuracy_all_pairs']:.2f}%")
    elif args.command == "predict":
        from .checkpoint import load_model
        from .predict import predict

        model = load_model(args.checkpoint)
        result = predict(model, args.image, args.number)
        if args.json:
            print(json.dumps(result))
        else:
            print(f"digit {result['digit']} (p={result['digit_probability']:.3f}), "
                  f"{result['digit']} + {args.number} = {result['sum']} (p={result['sum_probability']:.3f})")
    elif args.command == "figures":
        from .plots import draw_all

        for path in draw_all(args.checkpoint, args.data_dir, args.out_dir):
            print(f"wrote {path}")


def main(argv=None):
    args = build_parser().parse_args(argv)
    from .training import TrainingInterrupted

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
    return 0
