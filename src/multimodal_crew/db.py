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
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from .errors import BackendUnavailableError, ConfigError

__all__ = [
    "engine",
    "SharedLock",
    "Database",
    "SQLiteDatabase",
    "PostgresDatabase",
    "schema_name",
    "is_postgres",
    "safe_url",
    "unavailable",
    "dialect_of",
]

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


@functools.lru_cache(maxsize=32)
def engine(url: str, schema: str | None = None) -> Any:
    """The process's engine for ``url`` (made once; pooled connections, checked before use); with
    ``schema``, every connection's ``search_path`` is that schema (created by ``PostgresDatabase``)."""
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
        connect_args={
            "connect_timeout": CONNECT_TIMEOUT,
            "application_name": "mmcrew",
            **KEEPALIVE,
            **({"options": f"-c search_path={schema}"} if schema else {}),
        },
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


def _holders_table(conn: Any) -> None:
    """Create the lock holders' table if it is missing, one process at a time: two ``CREATE TABLE IF NOT
    EXISTS`` at once can both miss the table and one then fails on PostgreSQL's catalog."""
    from sqlalchemy import text

    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _key("mmcrew_lock_holders")})
    conn.execute(text(_HOLDERS))
    conn.commit()


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

                _holders_table(conn)
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
            _holders_table(conn)
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


# --- one catalog's connection: the same SQL on SQLite and PostgreSQL -----------------------------

def schema_name(name: str) -> str:
    """A PostgreSQL schema name for a store or state name (lower case, safe characters, 63 at most)."""
    import re

    slug = re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_")
    return ("mmcrew_" + slug)[:63]


class Database:
    """The SQL a store needs, on SQLite or PostgreSQL. Statements use ``?`` placeholders and the subset
    of SQL both speak (``INSERT ... ON CONFLICT``, window functions, ``"end"`` quoted). Outside
    :meth:`transaction` each statement commits on its own."""

    dialect = ""

    def one(self, sql: str, args: Sequence[Any] = ()) -> tuple | None:
        rows = self.all(sql, args)
        return rows[0] if rows else None

    def all(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        raise NotImplementedError

    def run(self, sql: str, args: Sequence[Any] = ()) -> None:
        raise NotImplementedError

    def many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        raise NotImplementedError

    def script(self, sql: str) -> None:
        for statement in (s.strip() for s in sql.split(";")):
            if statement:
                self.run(statement)

    def transaction(self):
        raise NotImplementedError

    def close(self) -> None:
        pass


class SQLiteDatabase(Database):
    """A SQLite file in WAL mode, one connection shared by the process's threads (autocommit;
    ``transaction`` is ``BEGIN IMMEDIATE``). SQLite's own errors pass through unchanged."""

    dialect = "sqlite"

    def __init__(self, path: Any, timeout: float = 30):
        import sqlite3

        self.path = path
        self.conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
        try:
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.Error:
            self.conn.close()
            raise

    def all(self, sql, args=()):
        return self.conn.execute(sql, tuple(args)).fetchall()

    def run(self, sql, args=()):
        self.conn.execute(sql, tuple(args))

    def many(self, sql, rows):
        self.conn.executemany(sql, [tuple(r) for r in rows])

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()


class PostgresDatabase(Database):
    """A schema of a PostgreSQL database, through SQLAlchemy's pool (each statement or transaction
    takes a pooled connection; a transaction is the calling thread's). A server that is down or goes
    away mid-statement raises ``unavailable``; the next call connects again."""

    dialect = "postgresql"

    def __init__(self, url: str, schema: str):
        self.url = url
        self.schema = schema
        self._local = threading.local()
        with connect(url) as conn:  # two machines creating it at once: one waits for the other
            from sqlalchemy import text

            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _key("schema:" + schema)})
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        self.engine = engine(url, schema)

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("%", "%%").replace("?", "%s")

    def _call(self, fn):
        from sqlalchemy.exc import DBAPIError, OperationalError

        conn = getattr(self._local, "conn", None)
        try:
            if conn is not None:
                return fn(conn)
            with self.engine.begin() as c:
                return fn(c)
        except OperationalError as e:
            raise unavailable(self.url, e) from None
        except DBAPIError as e:
            if getattr(e, "connection_invalidated", False):
                raise unavailable(self.url, e) from None
            raise

    def all(self, sql, args=()):
        return self._call(lambda c: [tuple(r) for r in c.exec_driver_sql(self._sql(sql), tuple(args)).fetchall()])

    def run(self, sql, args=()):
        self._call(lambda c: c.exec_driver_sql(self._sql(sql), tuple(args)))

    def many(self, sql, rows):
        rows = [tuple(r) for r in rows]
        if rows:
            self._call(lambda c: c.exec_driver_sql(self._sql(sql), rows))

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        from sqlalchemy.exc import DBAPIError, OperationalError

        if getattr(self._local, "conn", None) is not None:
            raise RuntimeError("nested transaction")
        try:
            ctx = self.engine.begin()
            conn = ctx.__enter__()
        except (OperationalError, DBAPIError) as e:
            raise unavailable(self.url, e) from None
        self._local.conn = conn
        try:
            yield self
        except BaseException as e:
            self._local.conn = None
            try:
                ctx.__exit__(type(e), e, e.__traceback__)
            except (OperationalError, DBAPIError):
                pass  # the rollback cannot reach a server that is gone; it rolled back anyway
            raise
        self._local.conn = None
        try:
            ctx.__exit__(None, None, None)
        except OperationalError as e:
            raise unavailable(self.url, e) from None
