"""`python -m bot`: the same as the `lessons` command."""

import sys

from bot.cli import main

sys.exit(main())
