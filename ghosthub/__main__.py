"""``python -m ghosthub``: the same as the ``ghosthub`` command."""

import sys

from .cli import run

if __name__ == "__main__":
    sys.exit(run())
