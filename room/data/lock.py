"""One writer per sequence folder: an advisory ``fcntl.flock`` lock on ``<sequence>/.lock``.

The lock is held on an open file for as long as a writer writes the folder; the file holds the
holder's pid, host and start time so a second writer can say who it is. The kernel drops a flock
when its process dies (even on SIGKILL), so a lock left by a killed run is free: the next writer
takes it over (and logs whose it was). A released lock's file is removed while still locked;
a writer that locked a file some other writer has since removed (its inode is no longer the
path's) retries, so two writers can never both believe they hold the lock.

flock is local to one machine (on NFS it is emulated, or not at all, depending on the mount):
two hosts writing the same folder on a shared file system may not be stopped by it.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import socket
import time
from pathlib import Path

from room.errors import DatasetError

log = logging.getLogger(__name__)

LOCK_NAME = ".lock"


def _describe(holder: dict) -> str:
    if not holder:
        return "a writer that is just starting (no details yet)"
    since = holder.get("since", "?")
    return (f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')}, "
            f"writing since {since}")


def _read_holder(fd: int) -> dict:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        data = os.read(fd, 4096)
        return json.loads(data) if data.strip() else {}
    except (OSError, ValueError):
        return {}


class WriterLock:
    """Exclusive lock of one folder; ``acquire()`` raises DatasetError naming the holder."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        import fcntl

        if self._fd is not None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        for _ in range(100):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                holder = _read_holder(fd)
                os.close(fd)
                if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise
                raise DatasetError(
                    f"{self.folder} is being written by another room-generate ("
                    f"{_describe(holder)}); wait for it to finish, or choose another out=DIR. "
                    f"Nothing was written by this run") from None
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if not same:  # the previous holder removed this file as it released it: retry
                os.close(fd)
                continue
            stale = _read_holder(fd)
            if stale:
                log.warning("%s: taking over the lock left by %s, which is no longer running "
                            "(killed?); resuming after its last complete frame", self.folder,
                            _describe(stale))
            me = {"pid": os.getpid(), "host": socket.gethostname(),
                  "since": time.strftime("%Y-%m-%d %H:%M:%S %z")}
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, (json.dumps(me) + "\n").encode())
            self._fd = fd
            return
        raise DatasetError(f"{self.path}: could not take the writer lock (it keeps being "
                           "replaced); is another process deleting it?")

    def release(self) -> None:
        """Remove the lock file (while still holding it) and drop the lock."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        except OSError:
            pass
        os.close(fd)

    def __del__(self) -> None:
        """A lock object that is dropped unreleased lets go like a dead process would: the
        lock is freed, the file with the holder's details stays (the next writer says it took
        over)."""
        fd, self._fd = getattr(self, "_fd", None), None
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self) -> WriterLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
