"""What the store needs from this machine (private files and folders, live processes)."""

from __future__ import annotations

import os
from pathlib import Path


def process_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    return True


def private_folder(folder: Path) -> None:
    """Create the data folder readable by this user only (0700); an existing folder
    this user owns is tightened to that too. Runs may hold raw token IDs."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    _tighten(folder, 0o700)


def private_file(path: Path) -> None:
    """The store file 0600 before SQLite opens it (its -wal and -shm files copy the
    database file's permissions)."""
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    _tighten(path, 0o600)


def _tighten(path: Path, mode: int) -> None:
    try:
        st = path.stat()
        if st.st_uid == os.getuid() and st.st_mode & 0o777 & ~mode:
            path.chmod(mode)
    except OSError:
        pass  # not ours or not there: SQLite reports what matters
