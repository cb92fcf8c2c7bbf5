"""``python -m cfy_local`` = the ``cfy`` command."""
from cfy_local.console import main

main()
