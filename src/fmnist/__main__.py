"""`python -m fmnist` is the same as the `fmnist` command."""

from fmnist.series.cli import main

raise SystemExit(main())
