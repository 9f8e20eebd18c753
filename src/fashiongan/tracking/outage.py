"""Store errors as one line (credentials masked), and a store that stops answering mid-run: told apart
from one that refuses a request, and survived."""

from __future__ import annotations

import contextlib
import errno
import functools
import re
import sqlite3
import sys

from ..errors import TrackingError


def masked(uri: str) -> str:
    """The text (a URI, or an error message quoting one) with any user:password replaced."""
    return re.sub(r"//[^/@\s]+@", "//***@", uri)


# Statuses with which a server, or a proxy before it, says it cannot serve now. MLflow retries
# them, then raises requests' RetryError, whose message (urllib3's) is the only place naming the status.
_UNAVAILABLE_STATUSES = {502, 503, 504}


# SQLite's primary result codes for a database that another process holds or that cannot be opened.
_SQLITE_AWAY = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CANTOPEN}


# A network mount (of the database or the artifacts) whose server went away.
_NETWORK_ERRNOS = {errno.ESTALE, errno.ENOTCONN, errno.EHOSTDOWN, errno.EHOSTUNREACH, errno.ENETUNREACH}


def _causes(error: BaseException) -> list[BaseException]:
    """`error` and what it was raised from or during: MLflow wraps the requests or SQLite error
    that says what happened, sometimes with `from`, sometimes inside an `except` block."""
    chain = []
    while error is not None and not any(error is seen for seen in chain):
        chain.append(error)
        error = error.__cause__ or error.__context__
    return chain


def is_outage(error: BaseException) -> bool:
    """Whether the store is out of reach (no connection, no answer in time, the server or the
    database unavailable), as opposed to answering and refusing this request (a bad value, an
    unknown run, a full disk), which is an error of its own."""
    import requests

    for cause in _causes(error):
        if isinstance(cause, (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError)):
            return True
        if isinstance(cause, requests.exceptions.RetryError):
            status = re.search(r"too many (\d{3}) error responses", str(cause))
            return status is not None and int(status[1]) in _UNAVAILABLE_STATUSES
        if isinstance(cause, sqlite3.Error) and getattr(cause, "sqlite_errorcode", None) is not None:
            return (
                cause.sqlite_errorcode & 0xFF in _SQLITE_AWAY
            )  # extended codes keep the primary in the low byte
        if isinstance(cause, OSError) and cause.errno in _NETWORK_ERRNOS:
            return True
    return False


def reason(error: BaseException) -> str:
    """One line: MLflow's error code (or the exception's type) and the first line of its message."""
    kind = getattr(error, "error_code", None) or type(error).__name__
    return masked(f"{kind}: {(str(error).splitlines() or [''])[0]}")[:300]


@contextlib.contextmanager
def one_line_errors(uri: str):
    """Any MLflow failure as one line naming the store: for commands that cannot go on without it."""
    import requests
    from mlflow.exceptions import MlflowException

    try:
        yield
    except (MlflowException, requests.RequestException) as e:
        raise TrackingError(f"MLflow store {masked(uri)}: {reason(e)}") from None


def survives_outage(method):
    """Once the store stops answering mid-run, warn once and go on without it: a stage's outputs
    matter more than its tracking, every per-step metric is also in the train stage's CSVs, and
    `fashiongan tracking sync` re-sends what MLflow missed. A store that answers and refuses a
    request, or a full disk, stops the stage with one line naming the call and the reason."""

    @functools.wraps(method)
    def guarded(self, *args, **kwargs):
        from mlflow.exceptions import MlflowException

        if self.lost is not None or self.run_id is None:  # the store is away, or tracking is off
            return None
        try:
            return method(self, *args, **kwargs)
        except (MlflowException, OSError) as e:
            if self.lost is not None:  # a nested guarded call already warned
                return None
            if not is_outage(e):
                raise TrackingError(
                    f"MLflow store {masked(self.client.tracking_uri)}: {method.__name__} failed: {reason(e)}"
                ) from None
            self.lost = reason(e)
            self._stop_sending()
            print(
                f"fashiongan: warning: MLflow store {masked(self.client.tracking_uri)} stopped answering "
                f"({self.lost}); going on without it. The metrics stay in models/checkpoints/*.csv and "
                "reports/: re-send them with `fashiongan tracking sync` once the store is back",
                file=sys.stderr,
            )
            return None

    return guarded
