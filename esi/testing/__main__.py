"""``python -m esi.testing [--host 127.0.0.1] [--port 8765]``: serve the ESI + SSO simulator."""

from __future__ import annotations

import argparse
import contextlib

from esi.testing._server import require_server, serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m esi.testing", description="ESI + EVE SSO simulator.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (loopback by default)")
    parser.add_argument("--port", type=int, default=8765, help="port (0: pick a free one)")
    parser.add_argument("--spec", action="append", default=[], help="OpenAPI document(s) instead of the bundled")
    parser.add_argument("--parent-pid", type=int, default=None, help="exit when this process is gone")
    args = parser.parse_args(argv)
    try:
        require_server()
    except ModuleNotFoundError as exc:
        parser.exit(2, f"{parser.prog}: {exc}\n")
    with contextlib.suppress(KeyboardInterrupt):
        serve(args.host, args.port, tuple(args.spec), args.parent_pid)


if __name__ == "__main__":
    main()
