"""`python -m webadmin.cli` runs the `kohde` console script."""

from . import main

main()
