"""Section 5's loop, shared by the exercise scripts: batches of 256 reshuffled from a seed per pass, forward,
loss, backward and step (`train_step`), then the schedule's next rate if there is one. Without an optimiser
of its own, SGD at a fixed 0.05 with momentum 0.9, as in the notebook's first loop."""

import torch

from mnist_sum import train_step
from mnist_sum.data import batches
from mnist_sum.training import loss_fn as both_heads_loss


def train_for(net, steps, dataset, optimizer=None, schedule=None, loss_fn=both_heads_loss):
    optimizer = optimizer or torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    net.train()
    step = 0
    while step < steps:
        for batch in batches(dataset, 256, torch.Generator().manual_seed(step)):
            train_step(net, batch, optimizer, loss_fn=loss_fn)
            if schedule is not None:
                schedule.step()
            step += 1
            if step == steps:
                return net
