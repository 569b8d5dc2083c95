"""The notebook's exercise 2, run once for its worked answer: the adder given the CNN's one-hot argmax instead of
its probabilities, and the network trained on the sum's loss alone. Seed 0, 1,000 steps of SGD at a fixed 0.05,
momentum 0.9, batches of 256 from the 55,000 training images of the validation split: section 5's loop. About
30 s on a 2-core CPU with bfloat16 units (the loop runs in float32; its CNN gets no gradient).

    python benchmarks/exercise_argmax.py

It prints the digit's and the sum's accuracy on the 5,000 validation images before and after training, and
how far the CNN's weights moved: through an argmax no gradient reaches them.
"""

import torch
import torch.nn.functional as F
from exercise_loop import train_for

from mnist_sum import MNISTRandomNumber, SumNet, evaluate

STEPS = 1000


class ArgmaxSumNet(SumNet):
    """The exercise's edit: the adder reads the CNN's answer as a one-hot vector, not its probabilities."""

    def sum_log_probs(self, digit_log_probs, numbers_onehot):
        return self.adder(F.one_hot(digit_log_probs.argmax(1), 10).float(), numbers_onehot)


def sum_only_loss(digit_log_probs, sum_log_probs, digits, sums):
    return F.nll_loss(sum_log_probs, sums)


def accuracy(net, dataset):
    metrics = evaluate(net, dataset, all_pairs=False)
    return metrics["digit_accuracy"], metrics["sum_accuracy"]


def main():
    held = MNISTRandomNumber(train=True, validation=5000, validation_only=True)
    torch.manual_seed(0)
    net = ArgmaxSumNet()
    before = accuracy(net, held)
    cnn_before = [p.clone() for p in net.digit_net.parameters()]
    train_for(net, STEPS, MNISTRandomNumber(train=True, validation=5000), loss_fn=sum_only_loss)
    after = accuracy(net, held)
    moved = max((p - q).abs().max().item() for p, q in zip(net.digit_net.parameters(), cnn_before))
    print(f"argmax to the adder, sum label only, validation: before training digit {100 * before[0]:.2f}%, "
          f"sum {100 * before[1]:.2f}%; after {STEPS} steps digit {100 * after[0]:.2f}%, sum {100 * after[1]:.2f}%; "
          f"largest change of any CNN weight: {moved}", flush=True)


if __name__ == "__main__":
    main()
