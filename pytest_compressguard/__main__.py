"""``python -m pytest_compressguard merge ...``: the ``compressguard`` command."""

import sys

from .merge import main

if __name__ == "__main__":
    sys.exit(main())
