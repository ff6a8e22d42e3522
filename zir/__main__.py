"""`python -m zir ...` runs the `zir` command (zir.cli.main)."""

from __future__ import annotations

import sys

from zir.cli import main

sys.exit(main())
