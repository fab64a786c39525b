"""A throw-away PostgreSQL 15 cluster for tests and benchmarks (Debian's postgresql-15).

initdb in a temporary directory and postgres on a free localhost port, both run as an
unprivileged user (PostgreSQL refuses root; tests run as root): `nobody` unless
RABTA_PG_USER names another. Trust authentication on 127.0.0.1 only, for the test's own role.
Stopped by its PID (SIGINT: fast shutdown). Fails loudly, never skips, without the binaries.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PG_BIN = Path(os.environ.get("RABTA_PG_BIN", "/usr/lib/postgresql/15/bin"))
ROLE = "rabta"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgCluster:
    """One postgres server; `url(db)` names a database on it, `create(db)` makes one."""

    def __init__(self, root: Path | None = None, port: int | None = None) -> None:
        self.user = os.environ.get("RABTA_PG_USER", "nobody")
        self.root = root or Path(tempfile.mkdtemp(prefix="rabta-pg-"))
        self.data = self.root / "data"
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def _as_user(self) -> list[str]:
        if os.geteuid() != 0:
            return []
        return ["setpriv", f"--reuid={self.user}", f"--regid={pwd.getpwnam(self.user).pw_gid}",
                "--clear-groups", "--"]

    def start(self, settings: dict[str, str] | None = None) -> PgCluster:
        """initdb and start; `settings` are more `-c name=value` (bench/pggen.py's, say)."""
        if not (PG_BIN / "initdb").exists():
            raise RuntimeError(f"PostgreSQL 15 is not installed ({PG_BIN}/initdb missing): "
                               f"apt-get install postgresql-15 (make test does)")
        pw = pwd.getpwnam(self.user)
        os.chmod(self.root, 0o700)
        os.chown(self.root, pw.pw_uid, pw.pw_gid)
        subprocess.run([*self._as_user(), str(PG_BIN / "initdb"), "-D", str(self.data),
                        "-U", ROLE, "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"],
                       check=True, capture_output=True, cwd=self.root)
        log = open(self.root / "postgres.log", "ab")
        self.proc = subprocess.Popen(
            [*self._as_user(), str(PG_BIN / "postgres"), "-D", str(self.data),
             "-p", str(self.port), "-h", "127.0.0.1", "-k", str(self.root),
             "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
             "-c", "max_connections=200", "-c", "shared_buffers=128MB",
             *(a for k, v in (settings or {}).items() for a in ("-c", f"{k}={v}"))],
            stdout=log, stderr=subprocess.STDOUT, cwd=self.root, start_new_session=True)
        log.close()
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited: {self.log_tail()}")
            ok = subprocess.run([str(PG_BIN / "pg_isready"), "-h", "127.0.0.1", "-p",
                                 str(self.port), "-U", ROLE, "-d", "postgres"],
                                capture_output=True).returncode == 0
            if ok:
                return
            time.sleep(0.1)
        raise RuntimeError(f"postgres not ready in {timeout}s: {self.log_tail()}")

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return (self.root / "postgres.log").read_text()[-2000:]
        return ""

    def url(self, db: str = "postgres") -> str:
        return f"postgresql://{ROLE}@127.0.0.1:{self.port}/{db}"

    def psql(self, sql: str, db: str = "postgres") -> str:
        out = subprocess.run([str(PG_BIN.parent / "bin" / "psql"), "-X", "-q", "-t", "-A",
                              "-v", "ON_ERROR_STOP=1", "-c", sql, self.url(db)],
                             check=True, capture_output=True, text=True)
        return out.stdout

    def create(self, db: str, template: str | None = None) -> str:
        """Create a database (from a template, if given); return its URL."""
        self.psql(f'CREATE DATABASE "{db}"' + (f' TEMPLATE "{template}"' if template else ""))
        return self.url(db)

    def stop(self, *, remove: bool = True) -> None:
        """Fast shutdown (SIGINT) by PID; then delete the cluster's directory."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None
        if remove:
            shutil.rmtree(self.root, ignore_errors=True)

    def restart(self) -> None:
        """Stop and start the same cluster (same port, same data)."""
        self.stop(remove=False)
        log = open(self.root / "postgres.log", "ab")
        self.proc = subprocess.Popen(
            [*self._as_user(), str(PG_BIN / "postgres"), "-D", str(self.data),
             "-p", str(self.port), "-h", "127.0.0.1", "-k", str(self.root),
             "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "max_connections=200"],
            stdout=log, stderr=subprocess.STDOUT, cwd=self.root, start_new_session=True)
        log.close()
        self.wait_ready()
