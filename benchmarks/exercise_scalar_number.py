"""The notebook's exercise 1, run once for its worked answer: the learned adder given the number as one float
(n / 9) instead of one-hot, trained with section 8's held-out pairs (seed 0, 1,000 steps of SGD at a fixed 0.05,
momentum 0.9, batches of 256), beside the same run with the one-hot number. About 9 minutes on 2 CPU cores.

    python benchmarks/exercise_scalar_number.py
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from mnist_sum import MNISTRandomNumber, SumNet
from mnist_sum.data import batches
from mnist_sum.training import loss_fn

HELD_OUT = [(d, (3 * d + 1) % 10) for d in range(10)]  # the notebook's section 8
SEEN = [(d, n) for d in range(10) for n in range(10) if (d, n) not in HELD_OUT]
STEPS = 1000


class ScalarNumberAdder(nn.Module):
    """The notebook's LearnedAdder with the number as one input, n / 9, in place of ten one-hot inputs."""

    def __init__(self, hidden=128):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(11, hidden), nn.LeakyReLU(0.1),
            nn.Linear(hidden, hidden), nn.LeakyReLU(0.1),
            nn.Linear(hidden, 19),
        )

    def forward(self, digit_probs, numbers_onehot):
        number = numbers_onehot.argmax(1, keepdim=True).float() / 9
        return F.log_softmax(self.layers(torch.cat([digit_probs, number], dim=1)), dim=1)


def train_loop(net, optimizer, steps, dataset):
    """The notebook's section-5 loop, at a fixed rate."""
    step = 0
    while step < steps:
        for (images, numbers), (digits, sums) in batches(dataset, 256, torch.Generator().manual_seed(step)):
            loss = loss_fn(*net(images, numbers), digits, sums)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            if step == steps:
                return net


@torch.no_grad()
def pair_accuracy(net, test_set, pairs):
    """Sum accuracy over the listed (digit, number) pairs, each on every test image of its digit."""
    net.eval()
    right = total = 0
    for d, n in pairs:
        images = test_set.images[test_set.digits == d]
        numbers = F.one_hot(torch.full((len(images),), n), 10).float()
        right += (net(images, numbers)[1].argmax(1) == d + n).sum().item()
        total += len(images)
    return right / total


def main():
    test_set = MNISTRandomNumber(train=False)
    for number_input in ("one-hot", "scalar n / 9"):
        torch.manual_seed(0)
        net = SumNet()
        if number_input != "one-hot":
            net.adder = ScalarNumberAdder()
        optimizer = torch.optim.SGD(net.train().parameters(), lr=0.05, momentum=0.9)
        train_loop(net, optimizer, STEPS, MNISTRandomNumber(train=True, held_out_pairs=HELD_OUT))
        print(f"{number_input}: sum on the seen pairs {100 * pair_accuracy(net, test_set, SEEN):.2f}%, "
              f"on the held-out pairs {100 * pair_accuracy(net, test_set, HELD_OUT):.2f}%", flush=True)


if __name__ == "__main__":
    main()
