"""`python -m scriptdeck` runs the command line."""

from scriptdeck.cli import main

raise SystemExit(main())
