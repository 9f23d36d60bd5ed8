"""``python -m edge`` is the same as ``microslip``."""

import sys

from edge.cli import main

sys.exit(main())
