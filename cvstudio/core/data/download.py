"""Downloading the torchvision datasets, with progress events and checksums.

torchvision's own ``download=True`` prints progress bars to the terminal; this
module fetches the same files from the same addresses (read from the
torchvision dataset classes, so they stay current) but reports progress as
:class:`~cvstudio.core.events.Progress` events (stage ``"download"``, ``done``
and ``total`` in bytes) and lays the files out as torchvision expects.

Each file is streamed in chunks to a temporary file in the target folder, its
MD5 is checked against the published one, and only then is it moved into
place (``os.replace``), so an interrupted download never leaves a file that
looks complete. Archives are extracted the way torchvision does it (CIFAR
tarballs into the data folder, MNIST ``.gz`` files decompressed into
``raw/``), through a temporary folder; the archives are removed afterwards.
Mirrors are tried in order.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.client
import os
import shutil
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from cvstudio.core.data.torchvision_sources import TORCHVISION_SOURCES, TorchvisionSource
from cvstudio.core.errors import DataError
from cvstudio.core.events import Progress, emit

CHUNK_BYTES = 1 << 20  # read/write unit while streaming
TIMEOUT_S = 30.0  # socket timeout per connection / read
PROGRESS_INTERVAL_S = 0.1  # at most ~10 progress events a second
USER_AGENT = "cvstudio (torchvision dataset download)"


@dataclass
class Resource:
    """One file to fetch: candidate URLs (mirrors), where it goes, and what to do with it."""

    urls: list[str]
    folder: Path  # where the downloaded file is saved
    filename: str
    md5: str | None
    extract: str | None = None  # "tar" (into extract_to) | "gz" (into folder) | None
    extract_to: Path | None = None
    ready: list[Path] = field(default_factory=list)  # files whose presence means "already done"
    ready_md5: list[str | None] = field(default_factory=list)  # their checksums (None: presence is enough)

    def is_ready(self) -> bool:
        from torchvision.datasets.utils import check_integrity

        if not self.ready:
            return False
        return all(check_integrity(str(p), md5) for p, md5 in zip(self.ready, self.ready_md5))


def resources_for(info: TorchvisionSource, root: Path) -> list[Resource]:
    """The files torchvision's class for ``info`` would download into ``root``."""
    import torchvision.datasets as tvd

    cls: Any = getattr(tvd, info.tv_class)
    if info.name in ("cifar10", "cifar100"):
        base = root / cls.base_folder
        members = list(cls.train_list) + list(cls.test_list) + [[cls.meta["filename"], cls.meta["md5"]]]
        return [
            Resource(
                urls=[cls.url],
                folder=root,
                filename=cls.filename,
                md5=cls.tgz_md5,
                extract="tar",
                extract_to=root,
                ready=[base / name for name, _ in members],
                ready_md5=[md5 for _, md5 in members],
            )
        ]
    if info.name in ("mnist", "fashion-mnist"):
        raw = root / cls.__name__ / "raw"
        out = []
        for filename, md5 in cls.resources:
            unpacked = raw / os.path.splitext(filename)[0]
            out.append(
                Resource(
                    urls=[f"{mirror}{filename}" for mirror in cls.mirrors],
                    folder=raw,
                    filename=filename,
                    md5=md5,
                    extract="gz" if filename.endswith(".gz") else None,
                    ready=[unpacked],
                    ready_md5=[None],  # torchvision only checks that these exist
                )
            )
        return out
    if info.name == "svhn":
        out = []
        for split in ("train", "test"):
            url, filename, md5 = cls.split_list[split]
            target = root / filename
            out.append(Resource(urls=[url], folder=root, filename=filename, md5=md5, ready=[target], ready_md5=[md5]))
        return out
    raise DataError(f"{info.title} cannot be downloaded")


def download_dataset(name: str, root: str | os.PathLike[str], callbacks: Iterable[Any] | None = None) -> None:
    """Fetch what is missing or damaged of dataset ``name`` into ``root``."""
    info = TORCHVISION_SOURCES[name]
    root = Path(root).expanduser()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the data folder {root}: {exc.strerror or exc}") from exc
    for res in resources_for(info, root):
        if res.is_ready():
            continue
        fetch(res.urls, res.folder / res.filename, res.md5, callbacks, what=res.filename)
        if res.extract:
            emit(callbacks, Progress("download", 0, None, f"extracting {res.filename}"))
            _extract(res)


def fetch(
    urls: list[str],
    dest: Path,
    md5: str | None,
    callbacks: Iterable[Any] | None = None,
    what: str | None = None,
) -> None:
    """Download the first of ``urls`` that works to ``dest``, checking its MD5."""
    what = what or dest.name
    folder = dest.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the folder {folder}: {exc.strerror or exc}") from exc
    failures: list[str] = []
    bad_checksum = 0
    for url in urls:
        tmp = _temp_file(folder, dest.name)
        try:
            digest = _stream(url, tmp, callbacks, what)
            if md5 is not None and digest != md5.lower():
                bad_checksum += 1
                failures.append(f"{url}: checksum mismatch")
                continue
            os.replace(tmp, dest)
            return
        except _NetworkError as exc:
            failures.append(f"{url}: {exc}")
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
    if failures and bad_checksum == len(failures):
        raise DataError(
            f"the downloaded {what} is damaged (checksum mismatch); try again later or put the files in {folder}"
        )
    reason = failures[-1].split(": ", 1)[1] if failures else "no address to download from"
    raise DataError(f"could not download {what}: {reason}; check the network or put the files in {folder}")


class _NetworkError(Exception):
    pass


def _temp_file(folder: Path, name: str) -> Path:
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=folder)
    except OSError as exc:
        raise DataError(f"cannot write in {folder}: {exc.strerror or exc}") from exc
    os.close(fd)
    return Path(tmp)


def _stream(url: str, tmp: Path, callbacks: Iterable[Any] | None, what: str) -> str:
    """Copy ``url`` into ``tmp`` chunk by chunk; return the MD5 hex digest."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    md5 = hashlib.md5(usedforsecurity=False)
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_S)
    except (TimeoutError, urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        raise _NetworkError(_reason(exc)) from exc
    with response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        done = 0
        last = 0.0
        emit(callbacks, Progress("download", 0, total, f"downloading {what}"))
        try:
            out = open(tmp, "wb")
        except OSError as exc:
            raise DataError(f"cannot write {tmp.parent}: {exc.strerror or exc}") from exc
        with out:
            while True:
                try:
                    chunk = response.read(CHUNK_BYTES)
                except (TimeoutError, http.client.HTTPException, OSError) as exc:
                    raise _NetworkError(_reason(exc)) from exc
                if not chunk:
                    break
                md5.update(chunk)
                try:
                    out.write(chunk)
                except OSError as exc:
                    raise DataError(f"could not save {what} in {tmp.parent}: {exc.strerror or exc}") from exc
                done += len(chunk)
                now = time.monotonic()
                if now - last >= PROGRESS_INTERVAL_S:
                    last = now
                    emit(callbacks, Progress("download", done, total, f"downloading {what}"))
            try:
                out.flush()
                os.fsync(out.fileno())
            except OSError as exc:
                raise DataError(f"could not save {what} in {tmp.parent}: {exc.strerror or exc}") from exc
        if total is not None and done != total:
            raise _NetworkError(f"connection closed after {done} of {total} bytes")
        emit(callbacks, Progress("download", done, total if total is not None else done, f"downloaded {what}"))
    return md5.hexdigest()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        reason = exc.reason
        return str(reason.strerror if isinstance(reason, OSError) and reason.strerror else reason)
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _extract(res: Resource) -> None:
    archive = res.folder / res.filename
    try:
        if res.extract == "tar":
            target = res.extract_to or res.folder
            staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=target))
            try:
                with tarfile.open(archive, "r:*") as tar:
                    _safe_extractall(tar, staging)
                for entry in staging.iterdir():
                    dest = target / entry.name
                    if dest.is_dir() and not dest.is_symlink():
                        shutil.rmtree(dest)
                    elif dest.exists() or dest.is_symlink():
                        dest.unlink()
                    os.replace(entry, dest)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        elif res.extract == "gz":
            dest = res.folder / os.path.splitext(res.filename)[0]
            tmp = _temp_file(res.folder, dest.name)
            try:
                with gzip.open(archive, "rb") as src, open(tmp, "wb") as out:
                    shutil.copyfileobj(src, out, CHUNK_BYTES)
                os.replace(tmp, dest)
            finally:
                with contextlib.suppress(OSError):
                    tmp.unlink()
    except (OSError, tarfile.TarError, EOFError, zlib.error) as exc:
        raise DataError(f"could not extract {archive}: {_reason(exc)}") from exc
    with contextlib.suppress(OSError):
        archive.unlink()


def _safe_extractall(tar: tarfile.TarFile, dest: Path) -> None:
    if hasattr(tarfile, "data_filter"):
        # refuses absolute paths, links out of the folder, devices...
        tar.extractall(dest, filter="data")
        return
    root = dest.resolve()
    for member in tar.getmembers():  # Python < 3.11.4: the same checks by hand
        target = (root / member.name).resolve()
        if not (member.isfile() or member.isdir()) or os.path.commonpath([root, target]) != str(root):
            raise tarfile.TarError(f"unsafe archive member {member.name!r}")
    tar.extractall(dest)
