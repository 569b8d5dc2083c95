"""The notebook's exercise 1, run once for its worked answer: the learned adder given the number as one float
(n / 9) instead of one-hot, trained with section 8's held-out pairs (seed 0, 1,000 steps of SGD at a fixed 0.05,
momentum 0.9, batches of 256), beside the same run with the one-hot number.
About 2 minutes on a 2-core Xeon, 9 on a 2-core EPYC.

    python benchmarks/exercise_scalar_number.py
"""

import torch
import torch.nn as nn
from exercise_loop import train_for

from mnist_sum import MNISTRandomNumber, SumNet
from mnist_sum.data import NUM_DIGITS
from mnist_sum.evaluation import sum_accuracy_all_pairs
from mnist_sum.model import LearnedAdder

HELD_OUT = [(d, (3 * d + 1) % 10) for d in range(10)]  # the notebook's section 8
SEEN = [(d, n) for d in range(10) for n in range(10) if (d, n) not in HELD_OUT]
STEPS = 1000


class ScalarNumberAdder(LearnedAdder):
    """The learned adder with the number as one input, n / 9, in place of ten one-hot inputs: the exercise's edit."""

    def __init__(self, hidden=128):
        super().__init__(hidden)
        self.layers[0] = nn.Linear(NUM_DIGITS + 1, hidden)

    def forward(self, digit_probs, numbers_onehot):
        return super().forward(digit_probs, numbers_onehot.argmax(1, keepdim=True).float() / 9)


def main():
    test_set = MNISTRandomNumber(train=False)
    for number_input in ("one-hot", "scalar n / 9"):
        torch.manual_seed(0)
        net = SumNet()
        if number_input != "one-hot":
            net.adder = ScalarNumberAdder()
        train_for(net, STEPS, MNISTRandomNumber(train=True, held_out_pairs=HELD_OUT))
        seen, held_out = (sum_accuracy_all_pairs(net, test_set, pairs=pairs) for pairs in (SEEN, HELD_OUT))
        print(f"{number_input}: sum on the seen pairs {100 * seen:.2f}%, on the held-out pairs {100 * held_out:.2f}%",
              flush=True)


if __name__ == "__main__":
    main()
