"""The shared database (``MMCREW_DATABASE_URL``): one SQLAlchemy engine per URL, and locks that hold
across machines.

With ``MMCREW_DATABASE_URL`` empty nothing here is used: every store keeps its SQLite file under
``MMCREW_HOME`` and its ``fcntl`` lock (``locks.PidLock``). With ``postgresql://...`` the catalog, the
run history and the schedules live in PostgreSQL, and a lock is a PostgreSQL *session advisory lock*
held on a connection of its own::

    lock = SharedLock(engine(url), "ingest:<store>", holder="machine-a pid 123")
    if not lock.acquire():
        raise BusyError(f"held by {lock.holder}")
    try:
        ...
    finally:
        lock.release()

The server releases an advisory lock the moment its connection ends, so a process that dies while
holding one (``kill -9`` included) never blocks the others: its socket closes and PostgreSQL lets
go. A machine that vanishes without closing its socket is noticed by TCP keepalives
(:data:`KEEPALIVE`, about 40 seconds). Who holds a lock is kept in ``mmcrew_lock_holders`` so a
refusal can name the machine and process.

Connection problems (server down, wrong password, unknown database) become ``BackendUnavailableError``
with one line naming the URL without its password.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .errors import BackendUnavailableError, ConfigError

__all__ = ["engine", "SharedLock", "is_postgres", "safe_url", "unavailable", "dialect_of"]

# libpq keepalives: a peer that vanished without closing its socket is dropped after ~40 s
KEEPALIVE = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 6}
CONNECT_TIMEOUT = 10  # seconds


def safe_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (what errors and ``doctor`` show)."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a URL at all: show its scheme only
        return url.split("://", 1)[0] + "://..."


def dialect_of(url: str) -> str:
    return url.split(":", 1)[0].split("+", 1)[0].lower()


def is_postgres(url: str) -> bool:
    return dialect_of(url) in ("postgresql", "postgres")


def _normalise(url: str) -> str:
    """``postgres://`` and ``postgresql://`` mean psycopg 3 (the driver we install)."""
    scheme, rest = url.split("://", 1)
    if scheme in ("postgres", "postgresql"):
        return "postgresql+psycopg://" + rest
    return url


@functools.lru_cache(maxsize=8)
def engine(url: str) -> Any:
    """The process's engine for ``url`` (made once; pooled connections, checked before use)."""
    from sqlalchemy import create_engine

    if "://" not in url:
        raise ConfigError(f"MMCREW_DATABASE_URL={url!r} is not a database URL: use postgresql://user:pass@host:5432/db")
    if not is_postgres(url):
        raise ConfigError(
            f"MMCREW_DATABASE_URL={safe_url(url)} is not supported: use postgresql://... "
            "(leave it empty for the SQLite files under MMCREW_HOME)"
        )
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise ConfigError("MMCREW_DATABASE_URL names PostgreSQL but psycopg is not installed: pip install 'psycopg[binary]'") from None
    return create_engine(
        _normalise(url),
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=5,
        connect_args={"connect_timeout": CONNECT_TIMEOUT, "application_name": "mmcrew", **KEEPALIVE},
    )


def unavailable(url: str, e: BaseException) -> BackendUnavailableError:
    """The one-line error for a database that cannot be reached or refuses us."""
    orig = getattr(e, "orig", None) or e
    why = " ".join(str(orig).split())[:240] or type(orig).__name__
    return BackendUnavailableError(
        f"the database at {safe_url(url)} cannot be used ({why}); check that PostgreSQL is running and "
        "MMCREW_DATABASE_URL is right. Nothing was lost: work not committed is redone on the next run"
    )


@contextmanager
def connect(url: str) -> Iterator[Any]:
    """A connection in a transaction (committed at the end, rolled back on error); connection
    failures become ``unavailable``."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    try:
        with engine(url).begin() as conn:
            yield conn
    except OperationalError as e:
        raise unavailable(url, e) from None
    except DBAPIError as e:
        if getattr(e, "connection_invalidated", False):
            raise unavailable(url, e) from None
        raise


_HOLDERS = """
CREATE TABLE IF NOT EXISTS mmcrew_lock_holders (
    name TEXT PRIMARY KEY, holder TEXT NOT NULL, since DOUBLE PRECISION NOT NULL)
"""


def _key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for a lock name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class SharedLock:
    """A named lock across every machine sharing the database, with ``PidLock``'s interface
    (``acquire()`` without waiting, ``release()``, ``holder`` after a refusal, ``held``)."""

    def __init__(self, url: str, name: str, holder: str):
        self.url = url
        self.name = name
        self.me = holder
        self.holder = ""
        self._conn: Any = None
        self._mutex = threading.Lock()

    @property
    def held(self) -> bool:
        return self._conn is not None

    def acquire(self) -> bool:
        from sqlalchemy import text
        from sqlalchemy.exc import DBAPIError

        with self._mutex:
            if self._conn is not None:
                self.holder = self.me
                return False
            try:
                conn = engine(self.url).connect()
            except DBAPIError as e:
                raise unavailable(self.url, e) from None
            try:
                got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _key(self.name)}).scalar()
                conn.commit()
                if not got:
                    self.holder = self._read_holder(conn) or "?"
                    conn.close()
                    return False
                import time

                conn.execute(text(_HOLDERS))
                conn.execute(
                    text(
                        "INSERT INTO mmcrew_lock_holders VALUES (:n, :h, :t) "
                        "ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, since = EXCLUDED.since"
                    ),
                    {"n": self.name, "h": self.me, "t": time.time()},
                )
                conn.commit()
            except DBAPIError as e:
                conn.close()
                raise unavailable(self.url, e) from None
            self._conn = conn
            return True

    def _read_holder(self, conn: Any) -> str:
        from sqlalchemy import text
        from sqlalchemy.exc import DBAPIError

        try:
            conn.execute(text(_HOLDERS))
            row = conn.execute(text("SELECT holder FROM mmcrew_lock_holders WHERE name = :n"), {"n": self.name}).first()
            conn.commit()
            return row[0] if row else ""
        except DBAPIError:
            return ""

    def release(self) -> None:
        with self._mutex:
            conn, self._conn = self._conn, None
        if conn is None:
            return
        from sqlalchemy import text
        from sqlalchemy.exc import DBAPIError

        try:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _key(self.name)})
            conn.commit()
            conn.close()
        except DBAPIError:
            conn.invalidate()  # closed for good, not pooled: the server drops its locks with it
