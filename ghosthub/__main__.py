"""``python -m ghosthub``: the same as the ``ghosthub`` command."""

import sys

from .cli import main

sys.exit(main())
