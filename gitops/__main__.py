"""``python -m gitops`` runs the CLI."""

import sys

from gitops.cli import main

sys.exit(main())
