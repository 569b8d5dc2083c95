"""The command line: python -m mnist_sum {train,evaluate,predict,demo,figures} ...

Every problem with the input ends as one line on stderr and exit code 2.
"""

import argparse
import json
import sys
from dataclasses import replace

from .data import MNISTRandomNumber
from .evaluation import evaluate
from .model import DEFAULT_CHECKPOINT, load_model
from .predict import predict
from .training import PRESETS, train


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, through main's handler, instead of usage and exit
        raise ValueError(f"{message} (see {self.prog} --help)")


def positive(text):
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def digit(text):
    if text not in [str(n) for n in range(10)]:
        raise argparse.ArgumentTypeError(f"expected an integer from 0 to 9, got {text!r}")
    return int(text)


def build_parser():
    parser = Parser(prog="python -m mnist_sum", description="Read an MNIST digit and add a number 0-9 to it.")
    commands = parser.add_subparsers(dest="command", required=True)
    checkpoint_help = f"default: {DEFAULT_CHECKPOINT} if you trained one, else the shipped weights"

    train = commands.add_parser("train", help="train a SumNet, saving a checkpoint after every epoch")
    train.add_argument("--preset", choices=PRESETS, default="default", help="fast: 99%% in seconds")
    train.add_argument("--epochs", type=positive)
    train.add_argument("--batch-size", type=positive)
    train.add_argument("--limit", type=positive, help="train on the first N training images only")
    train.add_argument("--seed", type=int)
    train.add_argument("--lr", type=float, help="peak learning rate")
    train.add_argument("--adder", choices=("learned", "exact"))
    train.add_argument("--validation", type=positive, help="hold out the last N training images for scoring")
    train.add_argument("--data-dir", help="MNIST folder (default: $MNIST_SUM_DATA or ./data)")
    train.add_argument("--out", default=DEFAULT_CHECKPOINT)

    evaluate = commands.add_parser("evaluate", help="test-set accuracy of a checkpoint")
    evaluate.add_argument("--checkpoint", help=checkpoint_help)
    evaluate.add_argument("--data-dir", help="MNIST folder (default: $MNIST_SUM_DATA or ./data)")
    evaluate.add_argument("--json", action="store_true")

    predict = commands.add_parser("predict", help="read the digit in an image and add NUMBER to it")
    predict.add_argument("image", help="a PNG or JPEG of one handwritten digit")
    predict.add_argument("number", type=digit, help="an integer 0-9")
    predict.add_argument("--checkpoint", help=checkpoint_help)
    predict.add_argument("--json", action="store_true")

    demo = commands.add_parser("demo", help="a page where you draw a digit (needs mnist-sum[demo])")
    demo.add_argument("--checkpoint", help=checkpoint_help)
    demo.add_argument("--port", type=positive, default=7860)

    figures = commands.add_parser("figures", help="draw a checkpoint's figures into a folder")
    figures.add_argument("--checkpoint", help=checkpoint_help)
    figures.add_argument("--data-dir", help="MNIST folder (default: $MNIST_SUM_DATA or ./data)")
    figures.add_argument("--out-dir", default="images")
    return parser


def run(args):
    if args.command == "train":
        names = ("epochs", "batch_size", "limit", "seed", "lr", "adder", "validation")
        config = replace(PRESETS[args.preset], **{n: getattr(args, n) for n in names if getattr(args, n) is not None})
        train(config, data_dir=args.data_dir, out=args.out)
        print(f"saved {args.out}")
    elif args.command == "evaluate":
        metrics = evaluate(load_model(args.checkpoint), MNISTRandomNumber(train=False, root=args.data_dir))
        if args.json:
            print(json.dumps(metrics))
        else:
            print(f"digit accuracy: {100 * metrics['digit_accuracy']:.2f}%")
            print(f"sum accuracy:   {100 * metrics['sum_accuracy']:.2f}% (test images with their numbers), "
                  f"{100 * metrics['sum_accuracy_all_pairs']:.2f}% (all 100,000 pairs)")
    elif args.command == "predict":
        result = predict(load_model(args.checkpoint), args.image, args.number)
        if args.json:
            print(json.dumps({k: v for k, v in result.items() if not k.endswith("probabilities")}))
        else:
            print(f"digit {result['digit']} ({100 * result['digit_probability']:.1f}%), "
                  f"{result['digit']} + {args.number} = {result['sum']} ({100 * result['sum_probability']:.1f}%)")
    elif args.command == "demo":
        model = load_model(args.checkpoint)
        try:
            from .demo import serve
        except ModuleNotFoundError:
            raise ValueError('the demo needs Gradio: pip install "mnist-sum[demo]"') from None
        serve(model, args.port)
    elif args.command == "figures":
        from .plots import draw_all

        draw_all(args.checkpoint, args.data_dir, args.out_dir)


def main(argv=None):
    try:
        run(build_parser().parse_args(argv))
    except KeyboardInterrupt:
        print("mnist_sum: interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError, RuntimeError) as e:  # bad input, missing files, no data: one line, not a traceback
        print(f"mnist_sum: error: {str(e).splitlines()[0] if str(e) else type(e).__name__}", file=sys.stderr)
        return 2
    return 0
