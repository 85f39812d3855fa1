"""``asyncdns-connect`` and ``python -m asyncdns_connect``: the command line.

``asyncdns-connect resolve NAME...`` prints addresses in connection order with
their TTLs; ``asyncdns-connect demo`` runs the self-contained loopback demo.
See ``asyncdns-connect --help``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (the script entry point)."""
    from ._cli import run

    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
