"""python -m deploy.local.sink --smtp-port 1025 --http-port 9010 --state .state/sink"""

import argparse
import asyncio
import os
from pathlib import Path

from .inbox import Inbox
from .server import serve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--smtp-port", type=int, default=int(os.environ.get("CLM_SINK_SMTP_PORT", "1025"))
    )
    parser.add_argument(
        "--http-port", type=int, default=int(os.environ.get("CLM_SINK_HTTP_PORT", "9010"))
    )
    parser.add_argument("--state", type=Path, default=Path(".state") / "sink")
    args = parser.parse_args()
    # The same secret notify signs tasks with (its development default when unset).
    secret = os.environ.get("CLM_NOTIFY_WEBHOOK_SECRET", "dev-only-change-me")
    print(
        f"sink: SMTP {args.host}:{args.smtp_port}, HTTP http://{args.host}:{args.http_port}/",
        flush=True,
    )
    asyncio.run(serve(Inbox(args.state), args.host, args.smtp_port, args.http_port, secret))


if __name__ == "__main__":
    main()
