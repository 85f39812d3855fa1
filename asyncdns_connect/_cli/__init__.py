"""The ``asyncdns-connect`` command line (private: use it as a program).

``resolve`` needs only the core package; ``demo`` imports aiohttp, httpx and the
test DNS server when it runs. Every error ends as one ``error: ...`` line and an
exit status: 1 for a failed lookup or run, 2 for a usage error, 130 for Ctrl-C.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Sequence

from .._errors import DNSError
from ._args import UsageError, build_parser, describe
from ._interrupt import interruptible
from ._output import error

__all__ = ["run"]


def run(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``), run the command, return the status."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "resolve":
            from . import resolve

            return resolve.main(args)
        from . import demo

        return asyncio.run(interruptible(demo.run(args)))
    except KeyboardInterrupt:
        error("interrupted")
        return 130
    except BrokenPipeError:
        # The reader went away (``| head -1``): it has what it wanted, so stop
        # quietly with success (as ripgrep does), and keep Python from failing
        # again when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except UsageError as exc:
        error(str(exc))
        return 2
    except (DNSError, OSError, ValueError) as exc:
        error(describe(exc))
        return 1
