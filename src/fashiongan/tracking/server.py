"""`fashiongan server`: the team's MLflow tracking server, which asks who you are wherever another
machine can reach it.

Bound to loopback (the default) only this machine's users reach it, and users are opt-in (`--auth`).
Bound to any other address it always runs MLflow's basic-auth app (`mlflow server --app-name
basic-auth`): every request but /health names a user and password (HTTP 401 otherwise), each user
reads every experiment and model (`default_permission` READ) and writes only what they created or
were granted (HTTP 403 otherwise). The users live in `mlflow-server-auth.db` beside the store
(`mlflow-server.db`); the admin's password is one the user chooses (MLFLOW_AUTH_ADMIN_PASSWORD,
read only when the admin is first created): there is no default one, and without it the server
refuses to start. Beyond loopback the Host-header allowlist of `mlflow server` is MLflow's default
plus this machine's names, and its CORS allowlist the server's own origins only, so a web page
elsewhere cannot drive the server through a teammate's browser.

Not here: TLS. Passwords travel in clear unless a TLS proxy is put in front (docs/scaling-out.md).

This module is not a dependency of any pipeline stage, and neither is anything it adds: changing it
reruns nothing (paths.py and store.py, which every stage's code includes, are left as they are).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
import socket
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError
from ..paths import SERVER_DB
from .store import server_command as plain_server_command

AUTH_DB = SERVER_DB.with_name("mlflow-server-auth.db")  # users, password hashes and grants
AUTH_CONFIG = SERVER_DB.with_name("mlflow-server-auth.ini")  # written at each start; no secret in it
ADMIN_PASSWORD = "MLFLOW_AUTH_ADMIN_PASSWORD"  # MLflow's own variables, read by the auth app itself
ADMIN_USERNAME = "MLFLOW_AUTH_ADMIN_USERNAME"
DEFAULT_ADMIN = "admin"
SECRET_KEY = "MLFLOW_FLASK_SERVER_SECRET_KEY"  # the auth app's CSRF key (its sign-up form)
PERMISSIONS = ("READ", "NO_PERMISSIONS")  # what a user may do with what they neither created nor were granted
MIN_PASSWORD = 12  # MLflow refuses shorter passwords, for every user (mlflow.utils.validation)
LEGACY_PASSWORD = "password1234"  # the default older MLflow shipped; MLflow 3.17 refuses it
AUTH_CACHE_SECONDS = 300  # how long the one worker trusts a checked password (MLflow's cache, off by default)


@dataclass
class Server:
    command: list[str]
    env: dict
    url: str  # what clients set MLFLOW_TRACKING_URI to
    notes: list[str] = field(default_factory=list)  # what `fashiongan server` prints before it starts


def is_loopback(host: str) -> bool:
    """Only this machine can connect: localhost or a loopback address (127.0.0.0/8, ::1). Any
    other name may resolve to an interface others reach, so it counts as beyond loopback."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _bracketed(name: str) -> str:
    return f"[{name}]" if ":" in name else name


def _wildcard(host: str) -> bool:
    return host.strip("[]") in ("0.0.0.0", "::", "")


def machine_names(host: str) -> list[str]:
    """The names and addresses clients may use for this server: the host it binds (unless a
    wildcard), this machine's hostname, fully qualified name, their IPv4 addresses and that of the
    interface of the default route."""
    names = [] if _wildcard(host) else [host.strip("[]")]
    names += [socket.gethostname(), socket.getfqdn()]
    with contextlib.suppress(OSError):
        names += socket.gethostbyname_ex(socket.gethostname())[2]
    try:  # the address of the interface the default route leaves by (a UDP connect sends nothing)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))
            names.append(s.getsockname()[0])
    except OSError:
        pass
    return list(dict.fromkeys(n for n in names if n and not is_loopback(n)))


def security_allowlists(host: str, port: int) -> tuple[str, str]:
    """(--allowed-hosts, --cors-allowed-origins) for a server bound beyond loopback: the Host headers
    of MLflow's default (localhost, private IP ranges: an IP literal cannot be rebound by DNS) plus
    this machine's names, with and without the port; as CORS origins only the server's own
    (its UI's writes carry an Origin header), so no other site's page can write through a browser."""
    from mlflow.server.security_utils import get_default_allowed_hosts

    names = [_bracketed(n) for n in machine_names(host)]
    hosts = [*get_default_allowed_hosts(), *names, *(f"{n}:{port}" for n in names)]
    origins = [f"http://{n}:{port}" for n in names]
    return ",".join(dict.fromkeys(hosts)), ",".join(origins)


def admin_exists(db: Path, username: str) -> bool:
    """Whether the auth store `db` already holds the admin `username` (read-only, without MLflow)."""
    if not db.is_file() or db.stat().st_size == 0:
        return False
    try:
        with sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True) as con:
            row = con.execute("SELECT is_admin FROM users WHERE username = ?", (username,)).fetchone()
    except sqlite3.Error:
        return False
    return bool(row and row[0])


def check_admin(root: Path, env: dict, why: str) -> str | None:
    """The admin's password when it is needed (the auth store holds no admin yet) and usable;
    None when the admin already exists. Refuses, as one line, a missing or unusable one."""
    username = env.get(ADMIN_USERNAME) or DEFAULT_ADMIN
    password = env.get(ADMIN_PASSWORD)
    if admin_exists(root / AUTH_DB, username):
        return None
    if not password:
        raise ConfigError(
            f"{why} requires users and passwords, and {AUTH_DB} has no admin yet: set {ADMIN_PASSWORD} "
            f"to the password admin {username!r} gets ({MIN_PASSWORD}+ characters; there is no default one)"
        )
    if len(password) < MIN_PASSWORD or password == LEGACY_PASSWORD:
        raise ConfigError(
            f"{ADMIN_PASSWORD}: got {len(password)} characters"
            f"{', the insecure default older MLflow shipped' if password == LEGACY_PASSWORD else ''}, "
            f"expected a password of your own of {MIN_PASSWORD} or more"
        )
    return password


def _private_file(path: Path, text: str | None = None) -> None:
    """`path` readable and writable by its owner only (0600), created if missing; `text` replaces
    its content when given."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if text is not None else 0)
    fd = os.open(path, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an existing file keeps its mode through os.open
        if text is not None:
            os.write(fd, text.encode())
    finally:
        os.close(fd)


def write_auth_config(root: Path, username: str, default_permission: str) -> Path:
    """MLflow basic-auth's config file (MLFLOW_AUTH_CONFIG_PATH), 0600 like the user store it names.
    The admin's password is not in it: MLflow reads MLFLOW_AUTH_ADMIN_PASSWORD from the environment."""
    _private_file(root / AUTH_DB)  # SQLite takes an empty file for a new store; its journals keep its mode
    config = root / AUTH_CONFIG
    _private_file(
        config,
        "# Written by `fashiongan server` at each start (edits are lost): MLflow basic-auth's settings.\n"
        "# The admin's password is read from MLFLOW_AUTH_ADMIN_PASSWORD when the admin is first created.\n"
        "[mlflow]\n"
        f"default_permission = {default_permission}\n"
        f"database_uri = sqlite:///{(root / AUTH_DB).resolve()}\n"
        f"admin_username = {username}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        "grant_default_workspace_access = false\n"
        "# One worker (--workers 1): a password change or deletion through the API drops the user's cached\n"
        "# credential at once; the cache spares each request a scrypt check (0.1 s of CPU on 2 cores).\n"
        f"auth_cache_ttl_seconds = {AUTH_CACHE_SECONDS}\n",
    )
    return config


def server(
    root: Path,
    host: str,
    port: int,
    auth: bool = False,
    default_permission: str = "READ",
    allowed_hosts: str | None = None,
    cors_allowed_origins: str | None = None,
) -> Server:
    """The `mlflow server` command line and environment for `fashiongan server`. With auth, the
    admin's password is checked before anything else (a refusal starts and imports nothing), then
    the auth config is written."""
    if default_permission not in PERMISSIONS:
        raise ConfigError(f"--default-permission: got {default_permission!r}, expected one of {PERMISSIONS}")
    loopback = is_loopback(host)
    auth = auth or not loopback
    command, env = plain_server_command(root, host, port)
    username = env.get(ADMIN_USERNAME) or DEFAULT_ADMIN
    if auth:
        why = "--auth" if loopback else f"bound to {host} (beyond loopback), the server"
        password = check_admin(root, env, why)
    name = host.strip("[]")
    if _wildcard(host):  # the name others reach it by; getfqdn() can be "localhost"
        name = next(iter(machine_names(host)), socket.gethostname())
    url = f"http://{_bracketed(name)}:{port}"
    notes = []
    if not loopback:
        hosts, origins = security_allowlists(host, port)
        if allowed_hosts is None:
            allowed_hosts = hosts
            names = ", ".join(machine_names(host))
            notes.append(f"allowed Host headers: localhost, private IPs, {names} (--allowed-hosts to change)")
        if cors_allowed_origins is None:
            cors_allowed_origins = origins
    if allowed_hosts:
        command += ["--allowed-hosts", allowed_hosts]
    if cors_allowed_origins:
        command += ["--cors-allowed-origins", cors_allowed_origins]
    if not auth:
        notes.append("auth: off (loopback only; --auth requires users and passwords)")
        return Server(command, env, url, notes)

    config = write_auth_config(root, username, default_permission)
    env = env | {"MLFLOW_AUTH_CONFIG_PATH": str(config.resolve())}
    if not env.get(SECRET_KEY):  # one worker: a key of this start's own serves its CSRF tokens
        env[SECRET_KEY] = secrets.token_urlsafe(32)
    command += ["--app-name", "basic-auth"]
    admin = (
        f"admin {username!r} is created with the password in {ADMIN_PASSWORD}"
        if password
        else f"admin {username!r} exists ({ADMIN_PASSWORD} is not read again; change passwords through the API)"
    )
    notes.append(
        f"auth: MLflow basic-auth, users in {AUTH_DB}, default permission {default_permission}; {admin}"
    )
    notes.append("auth: clients set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD")
    if not loopback:
        notes.append("plain HTTP: passwords and data cross the network in clear; put a TLS proxy in front")
    return Server(command, env, url, notes)
