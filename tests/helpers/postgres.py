"""A throw-away PostgreSQL server for tests: Debian's package (apt-get install postgresql), started in a
temporary folder on a unix socket only (no TCP port) and stopped afterwards.

PostgreSQL refuses to run as root, so as root the server runs as ``nobody`` (runuser); as another user
it runs as that user. ``start_postgres`` returns None with the reason when it cannot run here.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

SERVER_USER = "nobody"


@dataclass
class Postgres:
    folder: Path  # holds data/, the socket and the log
    bin_dir: Path
    as_user: list[str]  # the command prefix that runs a program as the server's user

    @property
    def url(self) -> str:
        """An SQLAlchemy URL of the 'postgres' database over the unix socket."""
        return f"postgresql+psycopg2://postgres@/postgres?host={self.folder}"

    def connect(self):
        import psycopg2

        return psycopg2.connect(host=str(self.folder), user="postgres", dbname="postgres")

    def stop(self) -> None:
        subprocess.run([*self.as_user, str(self.bin_dir / "pg_ctl"), "-D", str(self.folder / "data"), "-m",
                        "immediate", "-w", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.folder, ignore_errors=True)


def find_bin_dir() -> Path | None:
    """The folder of Debian's initdb/pg_ctl (not on PATH in the postgresql package), or None."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(Path(d).parent.name), reverse=True)
    return Path(dirs[0]) if dirs and Path(dirs[0], "initdb").exists() else None


def start_postgres() -> tuple[Postgres | None, str]:
    """(a running server, '') or (None, why it cannot run here)."""
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        return None, "psycopg2 is not installed (pip install psycopg2-binary)"
    bin_dir = find_bin_dir()
    if bin_dir is None:
        return None, "PostgreSQL is not installed (apt-get install postgresql)"
    as_user: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="vae-pg-"))
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            return None, "running as root without runuser: PostgreSQL cannot be started as another user"
        as_user = ["runuser", "-u", SERVER_USER, "--"]
        shutil.chown(folder, user=SERVER_USER)
    server = Postgres(folder, bin_dir, as_user)
    steps = [
        [str(bin_dir / "initdb"), "-D", str(folder / "data"), "-U", "postgres", "-A", "trust", "--no-sync",
         "-E", "UTF8"],
        [str(bin_dir / "pg_ctl"), "-D", str(folder / "data"), "-l", str(folder / "log"), "-w", "-t", "60",
         "-o", f"-c listen_addresses='' -k {folder} -c fsync=off -c max_connections=40", "start"],
    ]
    for cmd in steps:
        done = subprocess.run([*as_user, *cmd], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            log = (folder / "log").read_text(errors="replace") if (folder / "log").exists() else ""
            server.stop()
            return None, f"{Path(cmd[0]).name} failed: {(done.stderr or done.stdout or log).strip()[-300:]}"
    return server, ""
