"""``python -m ghosthub``: the same as the ``ghosthub`` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
