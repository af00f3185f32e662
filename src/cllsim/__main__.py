"""``python -m cllsim``: the command line."""

from .cli import main

main()
