"""Atomic file replacement: the target is either the old file or the complete new one.

Checkpoints and exports are written to a hidden temporary file beside the
target (``.NAME.<8 hex digits>.tmp``), made with the permissions any other
saved file gets (0666 less the umask, so 0644 under the usual umask 022), and
renamed over the target only once complete. A writer killed mid-write can
leave such a temporary file behind; the next save into that folder removes the
ones old enough to belong to no running writer.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import time
from pathlib import Path
from typing import Iterator

STALE_TEMP_AGE_S = 600.0  # a temp file untouched this long belongs to a writer that died
_TEMP_NAME = re.compile(r"^\..+\.[0-9a-f]{8}\.tmp$")


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX); a no-op where directories cannot be synced."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_stale_temps(folder: Path, max_age_s: float = STALE_TEMP_AGE_S) -> list[Path]:
    """Delete this module's temporary files in ``folder`` older than ``max_age_s``; returns them.

    Only names of the exact pattern this module writes are touched, and only
    regular files: nothing a user saved can match.
    """
    removed: list[Path] = []
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not _TEMP_NAME.match(entry.name):
            continue
        try:
            if not entry.is_file(follow_symlinks=False) or now - entry.stat(follow_symlinks=False).st_mtime < max_age_s:
                continue
            os.unlink(entry.path)
        except OSError:
            continue
        removed.append(Path(entry.path))
    return removed


def new_temp_beside(path: Path) -> Path:
    """Create an empty temporary file next to ``path`` (exclusive, umask-respecting mode)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            os.close(os.open(tmp, flags, 0o666))
        except FileExistsError:
            continue
        return tmp


@contextlib.contextmanager
def replacing(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path``, on any failure it is removed.

    The parent folder must exist. Stale temporary files of earlier, killed
    writers in the same folder are cleaned up first.
    """
    path = Path(path)
    remove_stale_temps(path.parent)
    tmp = new_temp_beside(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)
