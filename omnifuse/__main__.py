"""`python -m omnifuse` runs the command-line interface."""

from omnifuse.cli import main

raise SystemExit(main())
