"""``python -m ccpl_core`` is the same as the ``ccpl`` console script."""

import sys

from .cli import main

sys.exit(main())
