"""``python -m pytest_compressguard merge|search ...``: the ``compressguard`` command."""

import sys

from pytest_compressguard.cli import main

if __name__ == "__main__":
    sys.exit(main())
