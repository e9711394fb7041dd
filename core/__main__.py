"""``python -m core`` runs the same CLI as the installed ``specgate`` command."""

from core.cli import main

raise SystemExit(main())
