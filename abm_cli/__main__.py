"""`python -m abm_cli ...`: the `abm` command without its installed script."""

from abm_cli.main import main

main()
