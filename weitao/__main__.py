"""`python -m weitao` is the `weitao` command."""

from weitao.cli import main

main()
