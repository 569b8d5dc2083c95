"""One exception type for every problem a user can fix.

The command line turns it into a one-line message and a non-zero exit;
anything else that escapes is a bug in mnist_sum, not in the user's input.
"""


class MnistSumError(Exception):
    """A problem with the user's input, files or environment, worded as advice."""
