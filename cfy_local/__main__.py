"""``python -m cfy_local`` = the ``cfy`` command."""
from cfy_local.cli import main

main()
