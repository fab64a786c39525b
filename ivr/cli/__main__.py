"""`python -m ivr.cli`: the `rabta` command."""

import sys

from ivr.cli.entry import main

sys.exit(main())
