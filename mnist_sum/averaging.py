"""The weight average: the model that is evaluated and saved.

SGD at a high learning rate jitters around a good solution; an exponential
moving average of its weights sits in the middle of that jitter.
"""

import copy

import torch


class WeightAverage:
    """An exponential moving average of the weights and batch-norm statistics.

    torch.optim.swa_utils.AveragedModel can do this too; ours adds a short
    memory for the first steps, so the random initial weights fade fast, and
    keeps its whole state in one state_dict, which makes resuming exact.
    """

    def __init__(self, model, decay):
        self.model = copy.deepcopy(model).eval()
        self.decay = decay
        self.steps = 0
        self._pairs = list(zip(self.model.state_dict().values(), model.state_dict().values()))

    @torch.no_grad()
    def update(self):
        self.steps += 1
        decay = min(self.decay, (1 + self.steps) / (10 + self.steps))
        for average, live in self._pairs:
            if average.is_floating_point():
                average.lerp_(live, 1 - decay)
            else:
                average.copy_(live)  # counters such as num_batches_tracked
