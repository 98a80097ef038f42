"""Fixing a mislabelled image where it lives: move its file into another class folder.

A folder dataset's label *is* the folder an image sits in, so relabelling is a
file move between sibling class folders (``train/cat/x.png`` ->
``train/dog/x.png``). Nothing is ever overwritten: when the target folder
already holds a file of that name a free one is picked (``x-1.png``). Every
move returns a :class:`Move` record that :func:`undo_move` puts back.

The dataset cache needs no telling: a class's cache key covers the paths,
sizes and times of its files, so the two classes touched are decoded again on
the next load and the others come from the cache.

Every problem (a missing file, a read-only folder, a name that would leave the
dataset) raises :class:`DataError` with one line; nothing is half moved.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path

from cvstudio.core.errors import DataError

MAX_FREE_NAME_TRIES = 10_000


@dataclass(frozen=True)
class Move:
    """One file moved from one class folder to another."""

    source: str  # where the file was (absolute)
    destination: str  # where it is now (absolute; the name may differ if the first choice was taken)
    from_class: str
    to_class: str


def class_folders(path: str | os.PathLike[str]) -> list[str]:
    """The class folders beside the one holding the image ``path`` (sorted, hidden ones left out)."""
    split_dir = Path(path).resolve().parent.parent
    try:
        return sorted(e.name for e in os.scandir(split_dir) if e.is_dir() and not e.name.startswith("."))
    except OSError as exc:
        raise DataError(f"cannot list the class folders of {split_dir}: {exc.strerror or exc}") from None


def move_to_class(path: str | os.PathLike[str], class_name: str, dataset_root: str | os.PathLike[str] | None = None) -> Move:
    """Move the image ``path`` into the sibling class folder ``class_name``; returns what was done.

    ``dataset_root``, when given, must contain the file: a move never leaves the dataset.
    """
    source = Path(os.path.abspath(path))
    if not source.is_file():
        raise DataError(f"cannot move {source}: the file is no longer there")
    if dataset_root is not None:
        root = Path(os.path.abspath(dataset_root))
        if root not in source.parents:
            raise DataError(f"cannot move {source}: it is not inside the dataset folder {root}")
    name = str(class_name)
    if not name or name in (".", "..") or name.startswith(".") or "/" in name or os.sep in name or "\0" in name:
        raise DataError(f"{name!r} is not a class folder name")
    class_dir = source.parent
    target_dir = class_dir.parent / name
    if target_dir == class_dir:
        raise DataError(f"{source.name} is already in class {name!r}")
    if not target_dir.is_dir():
        raise DataError(f"there is no class folder {name!r} beside {class_dir.name!r} in {class_dir.parent}")
    destination = _move_to_free_name(source, target_dir)
    return Move(str(source), str(destination), class_dir.name, name)


def undo_move(move: Move) -> Move:
    """Put a moved file back where it was; returns the reverse move (what a redo undoes)."""
    current, original = Path(move.destination), Path(move.source)
    if not current.is_file():
        raise DataError(f"cannot move {current.name} back: {current} is no longer there")
    if not original.parent.is_dir():
        raise DataError(f"cannot move {current.name} back: the folder {original.parent} is gone")
    if os.path.lexists(original):
        raise DataError(f"cannot move {current.name} back: {original} exists again")
    _move_exactly(current, original)
    return Move(str(current), str(original), move.to_class, move.from_class)


def _free_names(source: Path, target_dir: Path):
    yield target_dir / source.name
    for i in range(1, MAX_FREE_NAME_TRIES):
        yield target_dir / f"{source.stem}-{i}{source.suffix}"


def _move_to_free_name(source: Path, target_dir: Path) -> Path:
    for candidate in _free_names(source, target_dir):
        try:
            _move_exactly(source, candidate)
        except FileExistsError:
            continue
        return candidate
    raise DataError(f"cannot move {source.name}: no free file name in {target_dir}")


def _move_exactly(source: Path, destination: Path) -> None:
    """Rename ``source`` to ``destination`` without ever replacing a file (FileExistsError if one is there)."""
    try:
        os.link(source, destination)  # fails when the name is taken: no race with another writer
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno == errno.EACCES:
            raise DataError(f"cannot move {source.name}: the folder {destination.parent} is read-only") from None
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise DataError(f"cannot move {source.name} to {destination.parent}: {exc.strerror or exc}") from None
        _rename_if_free(source, destination)  # a file system without hard links
        return
    try:
        os.unlink(source)
    except OSError as exc:
        os.unlink(destination)  # leave things as they were: the file stays where it was
        why = "is read-only" if isinstance(exc, PermissionError) else f"cannot be changed ({exc.strerror or exc})"
        raise DataError(f"cannot move {source.name}: the folder {source.parent} {why}") from None


def _rename_if_free(source: Path, destination: Path) -> None:
    if os.path.lexists(destination):
        raise FileExistsError(str(destination))
    try:
        os.rename(source, destination)
    except PermissionError:
        raise DataError(f"cannot move {source.name}: the folder {source.parent} or {destination.parent} "
                        "is read-only") from None
    except OSError as exc:
        raise DataError(f"cannot move {source.name} to {destination.parent}: {exc.strerror or exc}") from None


__all__ = ["Move", "class_folders", "move_to_class", "undo_move"]
