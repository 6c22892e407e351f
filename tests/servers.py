"""Real servers on loopback for the multi-machine tests: PostgreSQL, a Chroma server, llama.cpp's server.

No Docker. Each server is a separate process listening on 127.0.0.1 and a free port, with its data
in a fresh folder under /tmp that it alone uses, so several test sessions on one machine never meet:

* ``PostgresServer``: the Debian package's ``initdb`` and ``pg_ctl`` (``/usr/lib/postgresql/<v>/bin``,
  or ``MMCREW_PG_BINDIR``). Both refuse to run as root, so as root they run as the ``postgres`` user
  (``runuser -u postgres --``) in a folder chowned to it. A password user, a database, and
  ``url`` = ``postgresql://USER:PASS@127.0.0.1:PORT/DB``.
* ``ChromaServer``: ``chroma run --host 127.0.0.1 --port P --path DIR`` from the installed chromadb
  (its Rust server); ready when ``GET /api/v2/heartbeat`` answers.
* ``LlamaServer``: ``python -m llama_cpp.server`` on a GGUF file; ready when ``GET /v1/models``
  answers; ``url`` is the OpenAI-compatible base URL ``http://127.0.0.1:P/v1``.

Every server has ``url``, ``start()``, ``stop()``, ``restart()`` (same port, same data folder), and
``close()`` (stop and remove its folder; also run at exit). Each keeps its log in ``log_path``;
``log_tail()`` shows its end. A missing binary, package or model file raises ``ServerUnavailable``
(the tests skip with its reason); a server that is present but does not come up raises ``ServerFailed``
with the log's tail (the tests fail: CI must not skip silently). Every wait has a timeout.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import importlib.util
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

__all__ = [
    "ServerUnavailable", "ServerFailed", "free_port", "wait_http", "PostgresServer", "ChromaServer",
    "LlamaServer", "live_servers", "http_get", "port_open", "reap_stale",
]  # fmt: skip

HOST = "127.0.0.1"
TMP_ROOT = Path(os.environ.get("MMCREW_SERVERS_TMP", "/tmp"))
KEEP = os.environ.get("MMCREW_KEEP_SERVERS", "").strip().lower() in {"1", "true", "yes"}
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# no proxy, even if the environment names one: these servers are on loopback
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_LIVE: list[_Server] = []


class ServerUnavailable(Exception):
    """What a server needs is not on this machine (binary, package, model file): skip, with this reason."""


class ServerFailed(RuntimeError):
    """The server is installed but did not start or stop as it should: fail, with the log's tail."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def port_open(port: int, timeout: float = 0.5) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        return s.connect_ex((HOST, port)) == 0


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    with _OPENER.open(url, timeout=timeout) as r:
        return r.status, r.read()


def wait_http(url: str, timeout: float, *, alive=lambda: True, what: str = "server") -> float:
    """Poll ``url`` until it answers 200; return the seconds it took. Raises ``TimeoutError``, or
    ``ServerFailed`` as soon as ``alive()`` turns false (the process died)."""
    t0 = time.monotonic()
    last: object = None
    while time.monotonic() - t0 < timeout:
        if not alive():
            raise ServerFailed(f"{what} exited before {url} answered (last error: {last})")
        try:
            status, _ = http_get(url, timeout=2.0)
            if status == 200:
                return time.monotonic() - t0
            last = f"HTTP {status}"
        except (urllib.error.URLError, OSError) as e:
            last = e
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s (last error: {last})")


def _die_with_parent() -> None:  # pragma: no cover  (runs in the child between fork and exec)
    """The child gets SIGTERM when the test process dies, even by SIGKILL (Linux prctl PR_SET_PDEATHSIG)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def _is_postmaster(pid: int) -> bool:
    """True when ``pid`` is a live PostgreSQL server process (not a recycled pid)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    zombie = any(line.startswith("State:") and "Z" in line.split()[1] for line in status.splitlines())
    return not zombie and b"postgres" in cmdline


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def live_servers() -> list[_Server]:
    """The servers this process has made and not closed yet."""
    return list(_LIVE)


class _Server:
    """Common parts: a private folder under /tmp (``base``), a log file, the port, cleanup at exit."""

    kind = "server"
    start_timeout = 60.0
    stop_timeout = 30.0

    def __init__(self, *, port: int | None = None):
        self.port = port or free_port()
        self.base = Path(tempfile.mkdtemp(prefix=f"mmcrew-{self.kind}-", dir=TMP_ROOT))
        (self.base / "owner.pid").write_text(str(os.getpid()))
        self.log_path = self.base / f"{self.kind}.log"
        self.started_in: float | None = None  # seconds the last start() took
        self._closed = False
        _LIVE.append(self)

    # -- to implement -------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        raise NotImplementedError

    def start(self) -> _Server:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def running(self) -> bool:
        raise NotImplementedError

    # -- shared -------------------------------------------------------------------------------------
    def restart(self) -> _Server:
        self.stop()
        return self.start()

    def ensure_running(self) -> _Server:
        return self if self.running() else self.start()

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError as e:
            return f"(no log at {self.log_path}: {e})"
        return "\n".join(_ANSI.sub("", text).rstrip().splitlines()[-lines:])

    def _failed(self, what: str) -> ServerFailed:
        return ServerFailed(
            f"{self.kind} on {HOST}:{self.port} {what}\n--- last lines of {self.log_path} ---\n{self.log_tail()}"
        )

    def close(self) -> None:
        """Stop the server (if running) and remove its folder (kept with MMCREW_KEEP_SERVERS=1)."""
        if self._closed:
            return
        self._closed = True
        try:
            with contextlib.suppress(Exception):
                if self.running():
                    self.stop()
            self._kill_leftovers()
        finally:
            if self in _LIVE:
                _LIVE.remove(self)
            if not KEEP:
                shutil.rmtree(self.base, ignore_errors=True)

    def _kill_leftovers(self) -> None:
        pass

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url} base={self.base}>"


class _ProcessServer(_Server):
    """A server that is one child process of ours (Chroma, llama.cpp): Popen, stopped by SIGTERM."""

    ready_path = "/"

    def __init__(self, *, port: int | None = None):
        super().__init__(port=port)
        self.proc: subprocess.Popen | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> dict[str, str]:
        return dict(os.environ)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> _ProcessServer:
        if self.running():
            return self
        if port_open(self.port):
            raise self._failed(f"cannot start: port {self.port} is already in use")
        t0 = time.monotonic()
        with open(self.log_path, "ab") as log:
            log.write(f"\n=== {time.strftime('%H:%M:%S')} start: {' '.join(self.command())}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                self.command(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self.base,
                env=self.environment(), start_new_session=True, preexec_fn=_die_with_parent,
            )  # fmt: skip
        try:
            wait_http(f"http://{HOST}:{self.port}{self.ready_path}", self.start_timeout, alive=self.running,
                      what=self.kind)  # fmt: skip
        except (TimeoutError, ServerFailed) as e:
            code = self.proc.poll()
            self._terminate()
            raise self._failed(f"did not start ({e}; exit code {code})") from None
        self.started_in = time.monotonic() - t0
        return self

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self._terminate()
        self.proc = None
        # the port must be free again before a restart can bind it
        t0 = time.monotonic()
        while port_open(self.port) and time.monotonic() - t0 < self.stop_timeout:
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL, no clean shutdown (a crash)."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(self.stop_timeout)
        self.proc = None

    def _terminate(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(self.stop_timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(self.stop_timeout)

    def _kill_leftovers(self) -> None:
        self._terminate()


# -- PostgreSQL -------------------------------------------------------------------------------------


def pg_bindir() -> Path:
    """Where initdb/pg_ctl/postgres live: MMCREW_PG_BINDIR, else the newest /usr/lib/postgresql/<v>/bin,
    else the folder of ``initdb`` on PATH (symlinks resolved). Raises ServerUnavailable."""
    needed = ("initdb", "pg_ctl", "postgres")
    candidates: list[Path] = []
    if os.environ.get("MMCREW_PG_BINDIR"):
        candidates.append(Path(os.environ["MMCREW_PG_BINDIR"]))
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: _version_key(p.parent.name))
    candidates += reversed(versions)
    if shutil.which("initdb"):
        candidates.append(Path(shutil.which("initdb")).resolve().parent)
    for d in candidates:
        if all(os.access(d / n, os.X_OK) for n in needed):
            return d
    raise ServerUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found in /usr/lib/postgresql/*/bin or on PATH; "
        "run scripts/servers_setup.sh (Debian: apt-get install postgresql) or set MMCREW_PG_BINDIR"
    )


def _version_key(name: str) -> tuple:
    return tuple(int(x) if x.isdigit() else 0 for x in name.split("."))


def _as_postgres_user() -> tuple[list[str], pwd.struct_passwd | None]:
    """The command prefix that runs a PostgreSQL binary as a user it accepts, and that user (None: us)."""
    if os.geteuid() != 0:
        return [], None
    try:
        user = pwd.getpwnam(os.environ.get("MMCREW_PG_OS_USER", "postgres"))
    except KeyError:
        raise ServerUnavailable(
            "running as root, and initdb/pg_ctl refuse root, but there is no 'postgres' user "
            "(the Debian postgresql package creates it; or set MMCREW_PG_OS_USER)"
        ) from None
    if shutil.which("runuser"):
        return ["runuser", "-u", user.pw_name, "--"], user
    if shutil.which("setpriv"):
        return ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups", "--"], user
    raise ServerUnavailable("running as root and neither runuser nor setpriv is available to drop to 'postgres'")


class PostgresServer(_Server):
    """A throwaway PostgreSQL cluster: ``initdb`` once, then ``pg_ctl start``/``stop`` on the same port.

    ``url`` is ``postgresql://mmcrew:<random password>@127.0.0.1:<port>/mmcrew`` (password auth over TCP;
    trust only on the private Unix socket in ``base``). ``stop(mode="immediate")`` is a crash: no
    checkpoint, recovery at the next start.
    """

    kind = "postgres"
    user = "mmcrew"
    database = "mmcrew"

    def __init__(self, *, port: int | None = None):
        self.bindir = pg_bindir()
        self._prefix, self._os_user = _as_postgres_user()
        super().__init__(port=port)
        self.password = secrets.token_hex(12)
        self.data = self.base / "data"
        self.socket_dir = self.base / "sock"
        self._initialised = False
        if self._os_user is not None:
            os.chown(self.base, self._os_user.pw_uid, self._os_user.pw_gid)

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}:{self.password}@{HOST}:{self.port}/{self.database}"

    @property
    def sqlalchemy_url(self) -> str:
        return self.url.replace("postgresql://", "postgresql+psycopg://", 1)

    def _run(self, args: list[str], *, timeout: float, as_owner: bool = True, env: dict | None = None):
        cmd = (self._prefix if as_owner else []) + args
        with open(self.log_path, "ab") as log:
            log.write(f"\n=== {time.strftime('%H:%M:%S')} {' '.join(args)}\n".encode())
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=self.base,
                               env={**os.environ, "LC_ALL": "C.UTF-8", **(env or {})})  # fmt: skip
        except subprocess.TimeoutExpired as e:
            raise self._failed(f"{Path(args[0]).name} did not finish within {timeout:.0f} s") from e
        with open(self.log_path, "a", encoding="utf-8") as log:
            log.write(r.stdout + r.stderr)
        return r

    def _own(self, path: Path) -> None:
        if self._os_user is not None:
            os.chown(path, self._os_user.pw_uid, self._os_user.pw_gid)

    def _initdb(self) -> None:
        self.log_path.touch()
        self._own(self.log_path)  # pg_ctl, running as postgres, appends the server's own log here
        self.socket_dir.mkdir(mode=0o700)
        self._own(self.socket_dir)
        pwfile = self.base / "pwfile"
        pwfile.write_text(self.password + "\n")
        pwfile.chmod(0o600)
        self._own(pwfile)
        locale = ["--locale=C.UTF-8"] if Path("/usr/lib/locale/C.utf8").exists() else ["--no-locale"]
        r = self._run(
            [str(self.bindir / "initdb"), "-D", str(self.data), "-U", self.user, f"--pwfile={pwfile}", "-E", "UTF8",
             *locale, "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync", "--no-instructions"],
            timeout=120,
        )  # fmt: skip
        pwfile.unlink()
        if r.returncode != 0:
            raise self._failed(f"initdb failed (exit {r.returncode})")
        # loopback only, on our port, our socket folder; fsync off: a test cluster, thrown away at the end
        with open(self.data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write(
                "\n# mmcrew tests\n"
                f"listen_addresses = '{HOST}'\nport = {self.port}\nunix_socket_directories = '{self.socket_dir}'\n"
                "fsync = off\nfull_page_writes = off\nmax_connections = 200\nlog_line_prefix = '%m [%p] '\n"
            )
        self._initialised = True

    def running(self) -> bool:
        if not self._initialised:
            return False
        r = self._run([str(self.bindir / "pg_ctl"), "-D", str(self.data), "status"], timeout=30)
        return r.returncode == 0

    def start(self) -> PostgresServer:
        t0 = time.monotonic()
        first = not self._initialised
        if first:
            self._initdb()
        elif self.running():
            return self
        if port_open(self.port):
            raise self._failed(f"cannot start: port {self.port} is already in use")
        r = self._run(
            [str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log_path), "-w", "-t",
             str(int(self.start_timeout)), "start"],
            timeout=self.start_timeout + 15,
        )  # fmt: skip
        if r.returncode != 0:
            raise self._failed(f"pg_ctl start failed (exit {r.returncode})")
        if first:
            r = self._run(
                [str(self.bindir / "createdb"), "-h", HOST, "-p", str(self.port), "-U", self.user, self.database],
                timeout=60, as_owner=False, env={"PGPASSWORD": self.password},
            )  # fmt: skip
            if r.returncode != 0:
                raise self._failed(f"createdb {self.database} failed (exit {r.returncode})")
        self.started_in = time.monotonic() - t0
        return self

    def stop(self, mode: str = "fast") -> None:
        """``pg_ctl stop -m fast`` (``smart``, ``fast`` or ``immediate``), waiting until it is down."""
        if not self._initialised or not self.running():
            return
        pid = self.postmaster_pid()
        r = self._run(
            [str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", str(int(self.stop_timeout)),
             "stop"],
            timeout=self.stop_timeout + 15,
        )  # fmt: skip
        if r.returncode != 0:
            raise self._failed(f"pg_ctl stop -m {mode} failed (exit {r.returncode})")
        # pg_ctl returns once postmaster.pid is gone; the process may still be exiting (holding the port)
        t0 = time.monotonic()
        while pid and _is_postmaster(pid) and time.monotonic() - t0 < self.stop_timeout:
            time.sleep(0.05)

    def postmaster_pid(self) -> int | None:
        """The running server's process id, from ``postmaster.pid`` (None when it is not running)."""
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def kill(self) -> None:
        """A crash: ``pg_ctl stop -m immediate`` (no checkpoint; the next start recovers from the WAL)."""
        self.stop(mode="immediate")

    def _kill_leftovers(self) -> None:
        pid = self.postmaster_pid()
        if pid and _is_postmaster(pid):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGQUIT)  # immediate shutdown of the postmaster and its children


# -- Chroma -----------------------------------------------------------------------------------------


def chroma_binary() -> Path:
    for cand in (Path(sys.executable).parent / "chroma", shutil.which("chroma")):
        if cand and os.access(cand, os.X_OK):
            return Path(cand)
    raise ServerUnavailable("the `chroma` command (chromadb package) is not installed in this environment")


class ChromaServer(_ProcessServer):
    """``chroma run`` on loopback; its data persists in ``path`` across restarts."""

    kind = "chroma"
    ready_path = "/api/v2/heartbeat"

    def __init__(self, *, port: int | None = None):
        self.binary = chroma_binary()
        super().__init__(port=port)
        self.path = self.base / "db"

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def command(self) -> list[str]:
        return [str(self.binary), "run", "--host", HOST, "--port", str(self.port), "--path", str(self.path)]

    def environment(self) -> dict[str, str]:
        # the Rust server sends no product telemetry (chromadb 1.5: no PostHog in it, and the Python
        # client's Posthog.capture is a no-op); OpenTelemetry export happens only when a config file
        # names an endpoint, and none is given. Off anyway, for older versions; no colour in the log.
        return {**os.environ, "ANONYMIZED_TELEMETRY": "False", "CHROMA_ANONYMIZED_TELEMETRY": "False",
                "OTEL_SDK_DISABLED": "true", "NO_COLOR": "1"}  # fmt: skip


# -- llama.cpp's OpenAI-compatible server -----------------------------------------------------------

LLAMA_SERVER_MODULES = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings")


class LlamaServer(_ProcessServer):
    """``python -m llama_cpp.server`` on one GGUF file; ``url`` is the OpenAI base URL (``.../v1``).

    ``alias`` is the model name clients send (``model=...``) and ``/v1/models`` lists.
    """

    kind = "llama"
    ready_path = "/v1/models"
    start_timeout = 300.0

    def __init__(self, model_path: Path, *, alias: str | None = None, n_ctx: int = 4096, n_threads: int = 2,
                 port: int | None = None):  # fmt: skip
        missing = [m for m in LLAMA_SERVER_MODULES if importlib.util.find_spec(m) is None]
        if missing:
            raise ServerUnavailable(
                f"llama_cpp.server needs {', '.join(missing)}: pip install -e '.[dev]' (never reinstall llama-cpp-python)"
            )
        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise ServerUnavailable(f"no model file at {self.model_path}; run: make model")
        self.alias = alias or self.model_path.stem
        self.n_ctx, self.n_threads = n_ctx, n_threads
        super().__init__(port=port)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/v1"

    def command(self) -> list[str]:
        # as the embedded model's Llama() is made: batch sizes are its defaults, and no logits for every prompt
        # token (the server's default logits_all=true computes and copies 151,936 logits per prompt token:
        # seconds per request, the same answers); the chat template is the GGUF's own (no --chat_format)
        return [
            sys.executable, "-m", "llama_cpp.server", "--model", str(self.model_path), "--model_alias", self.alias,
            "--host", HOST, "--port", str(self.port), "--n_ctx", str(self.n_ctx), "--n_threads", str(self.n_threads),
            "--n_threads_batch", str(self.n_threads), "--n_batch", "512", "--n_ubatch", "512",
            "--logits_all", "false", "--cache", "false",
        ]  # fmt: skip


# -- cleanup ----------------------------------------------------------------------------------------


def reap_stale() -> list[Path]:
    """Remove server folders under /tmp left by test processes that died (SIGKILL) before cleaning up,
    stopping a PostgreSQL still running in one. Folders of live processes are never touched."""
    removed = []
    for base in TMP_ROOT.glob("mmcrew-*-*"):
        owner = base / "owner.pid"
        if not base.is_dir() or not owner.is_file():
            continue
        try:
            pid = int(owner.read_text().strip())
        except (OSError, ValueError):
            continue
        if pid == os.getpid() or _pid_alive(pid):
            continue
        with contextlib.suppress(OSError, ValueError):
            pg = int((base / "data" / "postmaster.pid").read_text().split()[0])
            if _is_postmaster(pg):
                os.kill(pg, signal.SIGQUIT)
        shutil.rmtree(base, ignore_errors=True)
        removed.append(base)
    return removed


@atexit.register
def _close_all() -> None:
    for server in list(_LIVE):
        with contextlib.suppress(Exception):
            server.close()
