"""`python -m app.cli` runs the `stagewise` command."""

from app.cli import main

main()
