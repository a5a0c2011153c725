"""`python -m app.cli ...` runs the `jifen` command (the worker's and the tests' way in)."""

import sys

from app.cli import main

sys.exit(main())
