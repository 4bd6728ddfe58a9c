"""The store file on disk: create it atomically, lock it, and check it without touching it.

Opening a file that already exists never writes to it until it has passed every check:
the first 100 bytes are read with plain ``os.pread`` (an SQLite file? ours?), then a
read-only SQLite connection (``mode=ro``) reads the schema and runs ``PRAGMA quick_check``.
Only a file that passes is opened read-write. A file that fails raises StoreCorrupt or
StoreVersionError naming the file and the problem, and its bytes are unchanged (a
read-only connection to a WAL-mode file may still create the ``-wal`` and ``-shm`` side
files, as any SQLite reader does).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from actors.store._api import StoreCorrupt, StoreUnavailable, StoreVersionError
from actors.store._schema import (
    APPLICATION_ID,
    APPLICATION_NAME,
    CORE_TABLES,
    KNOWN_TABLES,
    Migration,
    create_schema,
    latest_version,
)

SQLITE_MAGIC = b"SQLite format 3\x00"
HEADER_SIZE = 100
_CHECK_PROBLEMS_SHOWN = 3
_LOCK_WAIT_S = 5.0


_DAMAGED_HINT = "restore it from a backup, or move it away to start an empty store"
_FOREIGN_HINT = "check the store path in the configuration"


def corrupt(path: Path, problem: str, hint: str = _DAMAGED_HINT) -> StoreCorrupt:
    """Return the StoreCorrupt for ``path``: what was found and what to do about it."""
    return StoreCorrupt(
        f"{path} is not a usable Tocsin store: {problem}. The file was not changed; {hint}"
    )


def create_store_file(path: Path, migrations: Sequence[Migration]) -> None:
    """Create an empty store at ``path``, atomically: it appears complete or not at all.

    The schema is built in ``<path>.creating`` and hard-linked into place, so a crash
    during creation never leaves a half-made or empty file at ``path`` (an empty file is
    refused as corrupt, never mistaken for a new store). If ``path`` appears meanwhile,
    it is left alone. Raises StoreUnavailable if the directory cannot be written.

    The file is created readable by its owner only (0600, SQLite's ``-wal`` and ``-shm``
    files follow it): it holds the run-time receivers' secrets.
    """
    staging = _staging(path)
    try:
        remove_staging(path)
        os.close(os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
        conn = sqlite3.connect(staging, isolation_level=None)
        try:
            # Nobody sees the staging file until it is complete and fsynced below, so
            # building it needs neither a rollback journal on disk nor an fsync per step.
            conn.execute("PRAGMA journal_mode = MEMORY")
            conn.execute("PRAGMA synchronous = OFF")
            conn.execute("BEGIN IMMEDIATE")
            create_schema(conn, migrations)
            conn.execute("COMMIT")
            conn.execute("PRAGMA journal_mode = WAL")
        finally:
            conn.close()
        _fsync(staging)
        with contextlib.suppress(FileExistsError):
            os.link(staging, path)
        staging.unlink()
        _fsync(path.parent)
    except (OSError, sqlite3.Error) as error:
        raise StoreUnavailable(f"cannot create the store {path}: {error}") from error


def readable_by_others(path: Path) -> bool:
    """Return True if users other than the owner may read or write ``path``."""
    return bool(path.stat().st_mode & 0o077)


def _staging(path: Path) -> Path:
    return path.with_name(path.name + ".creating")


def remove_staging(path: Path) -> None:
    """Remove what a crash during the creation of ``path`` may have left behind."""
    staging = _staging(path)
    for suffix in ("", "-journal", "-wal", "-shm"):
        Path(f"{staging}{suffix}").unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def lock_store_file(path: Path) -> int:
    """Take the store's process-wide lock on ``path``; return the fd that holds it.

    One store per file: a second SqliteStore on the same file (in this process or
    another) gets StoreUnavailable, since two writers would assign the same sequence
    numbers. The lock is ``flock`` on the file itself, independent of SQLite's own
    ``fcntl`` locks, and the kernel releases it when the process dies (kill -9 included).
    Close the fd to release it.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as error:
        raise StoreUnavailable(f"cannot open the store {path}: {error}") from error
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        os.close(fd)
        raise StoreUnavailable(
            f"{path} is in use by another store (another Tocsin process, or a second "
            "SqliteStore in this one); close that one first"
        ) from error
    return fd


def check_header(path: Path, fd: int) -> None:
    """Raise StoreCorrupt unless the first bytes of ``fd`` are an SQLite header of ours."""
    header = os.pread(fd, HEADER_SIZE, 0)
    if not header:
        raise corrupt(path, "the file is empty (0 bytes), and a Tocsin store never is")
    if not (header.startswith(SQLITE_MAGIC) or SQLITE_MAGIC.startswith(header)):
        raise corrupt(
            path, f"not an SQLite database (it starts with {header[:16]!r})", _FOREIGN_HINT
        )
    if len(header) < HEADER_SIZE:
        raise corrupt(path, f"truncated: only {len(header)} bytes, shorter than a header")
    application_id = int.from_bytes(header[68:72], "big")
    if application_id != APPLICATION_ID:
        raise corrupt(path, _foreign(application_id), _FOREIGN_HINT)


def _foreign(application_id: int) -> str:
    return (
        "an SQLite database of another application "
        f"(application_id {application_id:#010x}; a Tocsin store has {APPLICATION_ID:#010x})"
    )


def inspect_store_file(path: Path, migrations: Sequence[Migration]) -> int:
    """Check ``path`` through a read-only connection; return its schema version.

    Raises StoreCorrupt (foreign, damaged, or not our tables), StoreVersionError (newer
    than ``migrations`` reach), or StoreUnavailable (cannot be read, or locked).
    """
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=_LOCK_WAIT_S)
    except sqlite3.Error as error:
        raise _read_error(path, error) from error
    try:
        return _inspect(path, conn, latest_version(migrations))
    except sqlite3.Error as error:
        raise _read_error(path, error) from error
    finally:
        conn.close()


def _inspect(path: Path, conn: sqlite3.Connection, latest: int) -> int:
    (application_id,) = conn.execute("PRAGMA application_id").fetchone()
    if application_id != APPLICATION_ID:
        raise corrupt(path, _foreign(application_id), _FOREIGN_HINT)
    problems = [" ".join(row[0].split()) for row in conn.execute("PRAGMA quick_check")]
    if problems != ["ok"]:
        shown = "; ".join(problems[:_CHECK_PROBLEMS_SHOWN])
        if len(problems) > _CHECK_PROBLEMS_SHOWN:
            shown += f"; and {len(problems) - _CHECK_PROBLEMS_SHOWN} more"
        raise corrupt(path, f"damaged (quick_check: {shown})")
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    if version > latest:
        raise StoreVersionError(
            f"{path} has schema version {version}, newer than this Tocsin understands "
            f"(up to {latest}). Run the Tocsin that wrote it, or a newer one; "
            "the file was not changed"
        )
    if version < 1:
        raise corrupt(path, f"schema version {version} (a Tocsin store starts at 1)")
    tables = {
        name
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%'"
        )
    }
    missing, unknown = CORE_TABLES - tables, tables - KNOWN_TABLES
    if missing or unknown:
        found = [
            *([f"tables missing: {', '.join(sorted(missing))}"] if missing else []),
            *([f"tables that are not Tocsin's: {', '.join(sorted(unknown))}"] if unknown else []),
        ]
        raise corrupt(path, "; ".join(found), _FOREIGN_HINT)
    meta = dict(conn.execute("SELECT key, value FROM meta"))
    if meta.get("application") != APPLICATION_NAME or meta.get("schema_version") != str(version):
        raise corrupt(
            path,
            f"meta says application={meta.get('application')!r}, "
            f"schema_version={meta.get('schema_version')!r}; the header says {version}",
        )
    return int(version)


def _read_error(path: Path, error: sqlite3.Error) -> StoreCorrupt | StoreUnavailable:
    """Return the error to raise for an SQLite failure while checking ``path``."""
    name = getattr(error, "sqlite_errorname", "")
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
        return corrupt(path, f"damaged ({error})")
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return StoreUnavailable(f"{path} is locked by another SQLite connection ({error})")
    return StoreUnavailable(f"cannot read the store {path}: {error} ({name or 'unknown'})")
