"""``python -m ops.cli``: the same as ``wf``."""

import sys

from ops.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
