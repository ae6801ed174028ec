"""``python -m aiogc``: the command line (see ``aiogc.cli``)."""

from aiogc.cli import main

raise SystemExit(main())
