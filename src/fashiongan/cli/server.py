"""`fashiongan server` (`make server`): the team's MLflow tracking server, which beyond loopback asks
who you are (tracking/server.py, docs/scaling-out.md)."""

from __future__ import annotations

import os
from pathlib import Path


def add_parser(subcommands) -> None:
    srv = subcommands.add_parser(
        "server",
        help="serve a shared MLflow tracking server (SQLite store, artifacts under the repo)",
        description=(
            "Run `mlflow server` for a team on this repo: backend mlflow-server.db, artifacts in "
            "mlartifacts/ served through the server (clients need no access to the disk), one "
            "worker and no job runner (small-machine settings). Point every user and stage at it "
            "with MLFLOW_TRACKING_URI=http://HOST:PORT. Bound beyond loopback it always runs MLflow's "
            "basic-auth app (users and passwords in mlflow-server-auth.db) and refuses to start "
            "until MLFLOW_AUTH_ADMIN_PASSWORD gives the first admin a password; clients then set "
            "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD. See docs/scaling-out.md for "
            "users, permissions, what stays unprotected, PostgreSQL and S3."
        ),
    )
    srv.add_argument(
        "--host",
        default="127.0.0.1",
        help="interface to bind (default 127.0.0.1; 0.0.0.0 for a team, which turns --auth on)",
    )
    srv.add_argument("--port", type=int, default=5000, help="port (default 5000)")
    srv.add_argument(
        "--auth",
        action="store_true",
        help="require users and passwords on loopback too (always on beyond loopback)",
    )
    srv.add_argument(
        "--default-permission",
        choices=["READ", "NO_PERMISSIONS"],
        default="READ",
        help="what a signed-in user may do with experiments and models they neither created nor were "
        "granted (default READ: the team compares every run; NO_PERMISSIONS: only grants)",
    )
    srv.add_argument(
        "--allowed-hosts",
        help="Host headers to accept, comma-separated, wildcards allowed (beyond loopback default: "
        "localhost, private IPs and this machine's names; passed to mlflow server)",
    )
    srv.add_argument(
        "--cors-allowed-origins",
        help="origins whose web pages may write, comma-separated (beyond loopback default: the "
        "server's own http://NAME:PORT; passed to mlflow server)",
    )
    srv.set_defaults(func=run)


def run(args) -> None:
    from ..tracking.server import server

    srv = server(
        Path.cwd(),
        args.host,
        args.port,
        auth=args.auth,
        default_permission=args.default_permission,
        allowed_hosts=args.allowed_hosts,
        cors_allowed_origins=args.cors_allowed_origins,
    )
    shown = list(srv.command[2:])
    if "--allowed-hosts" in shown:  # dozens of patterns: the notes say what they allow
        at = shown.index("--allowed-hosts") + 1
        shown[at] = f"<{shown[at].count(',') + 1} patterns>"
    lines = [" ".join(shown), *srv.notes, f"export MLFLOW_TRACKING_URI={srv.url}"]
    print("\n".join(f"server: {line}" for line in lines), flush=True)
    os.execve(srv.command[0], srv.command, srv.env)  # the server gets our signals and exit status
