"""``python -m steertorch``: the same as the ``steertorch`` command."""

import sys

from steertorch.cli import main

if __name__ == "__main__":
    sys.exit(main())
