"""Real disk faults for the store's directory: made read-only by the kernel, or filled up.

Both work on a running process, for root too, which ``chmod`` does not (root ignores
permissions, and nobody's open file descriptors are rechecked anyway):

- ``ImmutableDir``: ``chattr +i`` on the directory and the store's files (Linux's
  immutable attribute, on ext4, xfs, btrfs...): every write through an already open
  descriptor then fails with EPERM (SQLite: ``SQLITE_IOERR_WRITE``) and no file can be
  created; ``chattr -i`` lifts it. The WAL index (``-shm``) is left writable: SQLite
  maps it into memory, and a write to an immutable mapping kills the process with
  SIGBUS, which is another scenario (kill -9) than a read-only disk.
- ``SmallDisk``: a tmpfs of a fixed size mounted on the directory; ``fill()`` writes a
  ballast file until ENOSPC (SQLite: ``SQLITE_FULL``), ``free()`` deletes it.

Each needs root (CAP_LINUX_IMMUTABLE, CAP_SYS_ADMIN) and its tool. ``require_disk_faults``
fails the test under CI (which runs as root on this kind of machine, where both work) and
skips it elsewhere, naming what is missing, as ``require_binary`` does.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

_BALLAST = "ballast"
_CHUNK = b"\0" * (1 << 16)


def _missing(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def require_disk_faults(kind: str, where: Path) -> None:
    """Fail (under CI=true) or skip unless this process can inject ``kind`` faults.

    For ``read-only``, a probe file in ``where`` is made immutable and back (the
    filesystem must support the attribute: ext4, xfs, btrfs do; tmpfs does not).
    """
    if os.geteuid() != 0:
        _missing(f"the {kind} disk fault needs root (chattr +i, mount -t tmpfs)")
    tool = "chattr" if kind == "read-only" else "mount"
    if shutil.which(tool) is None:
        _missing(f"the {kind} disk fault needs {tool} (e2fsprogs / util-linux)")
    if kind == "read-only":
        probe = where / "immutable-probe"
        probe.touch()
        try:
            _run("chattr", "+i", str(probe))
            _run("chattr", "-i", str(probe))
        except OSError as error:
            _missing(f"cannot make a file immutable under {where}: {error}")
        finally:
            probe.unlink(missing_ok=True)


def _run(*command: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise OSError(f"{' '.join(command)} failed ({result.returncode}): {result.stderr.strip()}")


class ImmutableDir:
    """Make ``directory`` and its files (except ``*-shm``) immutable, and back again."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._frozen: list[Path] = []

    def freeze(self) -> None:
        """``chattr +i`` the files, then the directory: writes now fail with EPERM."""
        files = [
            path
            for path in sorted(self.directory.iterdir())
            if path.is_file() and not path.name.endswith("-shm")
        ]
        for path in [*files, self.directory]:
            _run("chattr", "+i", str(path))
            self._frozen.append(path)

    def thaw(self) -> None:
        """``chattr -i`` everything ``freeze`` made immutable (idempotent)."""
        while self._frozen:
            _run("chattr", "-i", str(self._frozen.pop()))


class SmallDisk:
    """A tmpfs of ``size`` bytes mounted on ``directory`` (created if missing)."""

    def __init__(self, directory: Path, size: int) -> None:
        self.directory = directory
        self.size = size
        self.ballast = 0
        self._mounted = False

    def mount(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            _run("mount", "-t", "tmpfs", "-o", f"size={self.size},mode=0755", "tmpfs",
                 str(self.directory))  # fmt: skip
        except OSError as error:
            _missing(f"cannot mount a tmpfs here: {error}")
        self._mounted = True

    def unmount(self) -> None:
        if self._mounted:
            _run("umount", str(self.directory))
            self._mounted = False

    def fill(self) -> int:
        """Write a ballast file until the disk is full; return the bytes it took."""
        written = 0
        with open(self.directory / _BALLAST, "ab") as ballast:
            try:
                while True:
                    written += ballast.write(_CHUNK)
                    ballast.flush()
            except OSError as error:
                if error.errno != errno.ENOSPC:
                    raise
        # The last partial chunk may have left a few bytes: take them too.
        with contextlib.suppress(OSError), open(self.directory / _BALLAST, "ab") as ballast:
            while ballast.write(b"\0") == 1:
                ballast.flush()
                written += 1
        self.ballast += written
        return written

    def free(self) -> None:
        """Delete the ballast: the disk has room again."""
        (self.directory / _BALLAST).unlink(missing_ok=True)
        self.ballast = 0


@contextlib.contextmanager
def small_disk(directory: Path, size: int) -> Iterator[SmallDisk]:
    """Mount a ``SmallDisk`` on ``directory`` and unmount it afterwards."""
    disk = SmallDisk(directory, size)
    disk.mount()
    try:
        yield disk
    finally:
        disk.unmount()


@contextlib.contextmanager
def immutable_dir(directory: Path) -> Iterator[ImmutableDir]:
    """An ``ImmutableDir`` on ``directory`` that is always thawed afterwards."""
    frozen = ImmutableDir(directory)
    try:
        yield frozen
    finally:
        frozen.thaw()
