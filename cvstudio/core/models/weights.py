"""Starting weights for a model: torchvision's pretrained weights, a state_dict file, a CV Studio checkpoint.

Pretrained weights come from torchvision's weight enums and live where
torchvision keeps them, the torch hub cache (``torch.hub.get_dir()/checkpoints``);
a run never downloads unless asked (``download=True``, the CLI's
``--download-weights``). A download is hash-checked as torchvision does: the
file name carries the first hex digits of its SHA-256
(``resnet18-f37072fd.pth``) and a file whose hash does not start with them
is refused (and not kept); it reports progress and can be cancelled.

Files are read without unpickling code: ``.pth``/``.pt`` through
``torch.load(weights_only=True)``, ``.safetensors`` through safetensors. Every
tensor's shape is checked against the model, and a mismatch is named; only
the head (the final layer) may differ, and it is then left freshly
initialized, which the returned notes say.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlparse

import torch
from torch import nn

from cvstudio.core.errors import UserError


class WeightsError(UserError):
    """Starting weights are missing, unreadable or do not fit the model."""


_WRAPPER_KEYS = ("state_dict", "model_state_dict", "model")
_PREFIXES = ("_orig_mod.", "module.")
_HASH = re.compile(r"-([a-f0-9]*)\.")  # torch.hub's HASH_REGEX


def hub_checkpoints_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def pretrained_file(arch: str, weights: str | None = "DEFAULT") -> tuple[Path, str]:
    """Where torchvision caches ``arch``'s ``weights``, and their URL."""
    from cvstudio.core.models.torchvision_models import resolve_weights

    url = resolve_weights(arch, weights).url
    return hub_checkpoints_dir() / os.path.basename(urlparse(url).path), url


DOWNLOAD_CHUNK_BYTES = 1 << 20
DOWNLOAD_TIMEOUT_S = 30.0  # per connection / read
PROGRESS_INTERVAL_S = 0.1  # at most ~10 progress events a second


def download_file(url: str, dest: Path, progress: bool = False, *, callbacks: Any = None, control: Any = None) -> Path:
    """Download ``url`` to ``dest`` with torch hub's hash-prefix check (name-SHA256PREFIX.ext).

    Streams into a temporary file beside ``dest`` and moves it into place only
    once complete and hash-checked, so a truncated, damaged or cancelled
    download leaves nothing (and an older file stays). ``callbacks`` receive
    Progress("download", bytes done, bytes total) events; ``control`` (a
    RunControl) stops it between chunks (raises ``Cancelled``). ``progress``
    prints a line per 10 % on stderr (the CLI).
    """
    import hashlib
    import sys
    import tempfile
    import time
    import urllib.request

    from cvstudio.core.errors import Cancelled
    from cvstudio.core.events import Progress, emit

    match = _HASH.search(dest.name)
    prefix = match.group(1) if match else ""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    except OSError as exc:
        raise WeightsError(f"cannot write in {dest.parent}: {exc.strerror or exc}") from None
    tmp = Path(tmp_name)
    sha = hashlib.sha256()
    what = dest.name
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                response = urllib.request.urlopen(urllib.request.Request(url, headers={"User-Agent": "cvstudio"}),
                                                  timeout=DOWNLOAD_TIMEOUT_S)
            except (OSError, ValueError) as exc:
                raise WeightsError(f"could not download {url}: {getattr(exc, 'reason', None) or exc}") from None
            with response:
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                done, last, printed = 0, 0.0, -1
                emit(callbacks, Progress("download", 0, total, f"downloading {what}"))
                while True:
                    if control is not None and control.stop_requested:
                        raise Cancelled(f"the download of {what} was cancelled")
                    try:
                        chunk = response.read(DOWNLOAD_CHUNK_BYTES)
                    except OSError as exc:
                        raise WeightsError(f"the download of {url} broke off: {exc}") from None
                    if not chunk:
                        break
                    sha.update(chunk)
                    out.write(chunk)
                    done += len(chunk)
                    now = time.monotonic()
                    if now - last >= PROGRESS_INTERVAL_S:
                        last = now
                        emit(callbacks, Progress("download", done, total, f"downloading {what}"))
                    if progress and total and done * 10 // total > printed:
                        printed = done * 10 // total
                        print(f"downloading {what}: {done * 100 // total}%", file=sys.stderr, flush=True)
            if total is not None and done != total:
                raise WeightsError(f"the download of {url} is truncated: {done:,} of {total:,} bytes arrived")
            if not sha.hexdigest().startswith(prefix):
                raise WeightsError(
                    f"the download of {url} is damaged: its SHA-256 starts with {sha.hexdigest()[:len(prefix)]}, "
                    f"not {prefix} as its name says"
                )
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, dest)
    except OSError as exc:
        raise WeightsError(f"could not save {what} in {dest.parent}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    emit(callbacks, Progress("download", done, done, f"downloaded {what}"))
    return dest


def pretrained_state_dict(arch: str, weights: str | None = "DEFAULT", *, download: bool = False,
                          progress: bool = False) -> tuple[dict[str, torch.Tensor], Path]:
    """torchvision's pretrained state_dict of ``arch`` from the hub cache (downloaded only if ``download``)."""
    path, url = pretrained_file(arch, weights)
    if not path.exists():
        if not download:
            raise WeightsError(
                f"pretrained weights for {arch} are not downloaded ({path}); add --download-weights to fetch them"
            )
        download_file(url, path, progress)
    return read_state_dict(path), path


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Tensors of a ``.pth``/``.pt`` (weights_only) or ``.safetensors`` file, wrappers and prefixes removed."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    if path.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file

            obj: Any = load_file(str(path), device="cpu")
        except Exception as exc:
            raise WeightsError(f"{path} is not a readable safetensors file: {str(exc).splitlines()[0] if str(exc) else exc}") from None
    else:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            import pickle

            if isinstance(exc, pickle.UnpicklingError) and "weights only" in str(exc).lower():
                raise WeightsError(
                    f"{path} is not a plain state_dict: it contains Python objects that cannot be loaded safely"
                ) from None
            raise WeightsError(f"{path} could not be read as a PyTorch file") from None
    tensors = _tensors(obj)
    if tensors is None and isinstance(obj, Mapping):
        for key in _WRAPPER_KEYS:
            tensors = _tensors(obj.get(key))
            if tensors is not None:
                break
    if tensors is None:
        raise WeightsError(
            f"{path} is not a plain state_dict: expected names mapped to tensors, found {type(obj).__name__}"
        )
    for prefix in _PREFIXES:
        if all(k.startswith(prefix) for k in tensors):
            tensors = {k[len(prefix):]: v for k, v in tensors.items()}
    return tensors


def _tensors(obj: Any) -> dict[str, torch.Tensor] | None:
    if isinstance(obj, Mapping) and obj and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        return dict(obj)
    return None


def head_name(model: nn.Module) -> str | None:
    """Dotted name of the model's final layer: torchvision heads as built, else the last Linear/Conv2d."""
    from cvstudio.core.models.torchvision_models import HEAD_ATTR

    head = getattr(model, HEAD_ATTR, None)
    if head:
        return head
    last = None
    for name, module in model.named_modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            last = name
    return last


def _fmt(shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


def load_into(model: nn.Module, tensors: Mapping[str, torch.Tensor], source: str, *, replace_head: bool = True) -> list[str]:
    """Copy ``tensors`` into ``model``; every shape must fit, except the head's when ``replace_head``.

    Returns notes for the user (e.g. that the head was replaced). Raises
    WeightsError naming missing, unexpected or mismatched tensors.
    """
    expected = model.state_dict()
    head = head_name(model)
    in_head = (lambda k: head is not None and k.startswith(head + ".")) if replace_head else (lambda k: False)
    missing = [k for k in expected if k not in tensors and not in_head(k)]
    unexpected = [k for k in tensors if k not in expected]
    if missing:
        raise WeightsError(f"{source} does not fit the model: missing tensors {_names(missing)}")
    if unexpected:
        raise WeightsError(f"{source} does not fit the model: unexpected tensors {_names(unexpected)}")
    mismatched = [k for k, v in expected.items() if k in tensors and tuple(tensors[k].shape) != tuple(v.shape)]
    bad = [k for k in mismatched if not in_head(k)]
    if bad:
        k = bad[0]
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise WeightsError(
            f"{source} does not fit the model: tensor {k!r} has shape {_fmt(tensors[k].shape)} "
            f"but the model expects {_fmt(expected[k].shape)}{more}"
        )
    skip_head = any(in_head(k) for k in mismatched) or any(in_head(k) and k not in tensors for k in expected)
    state = {k: v for k, v in tensors.items() if not (skip_head and in_head(k))}
    with torch.no_grad():
        for k, v in state.items():
            if not (v.is_floating_point() or v.dtype in (torch.int64, torch.int32, torch.uint8)):
                raise WeightsError(f"{source}: tensor {k!r} has an unusable type {v.dtype}")
            expected[k].copy_(v.to(expected[k].dtype))
    notes = []
    if skip_head:
        old = next((tuple(tensors[k].shape) for k in tensors if in_head(k) and k.endswith("weight")), None)
        new = tuple(expected[head + ".weight"].shape) if head + ".weight" in expected else None
        what = f"{old[0]} outputs" if old else "a different size"
        notes.append(f"the final layer {head} of {source} ({what}) was replaced by a new one for "
                     f"{new[0] if new else 'the'} classes")
    return notes


def _names(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def checkpoint_weights(path: str | os.PathLike[str]):
    """(tensors, meta) of a CV Studio checkpoint, validated by core.checkpoints."""
    from cvstudio.core.checkpoints import load_checkpoint

    loaded = load_checkpoint(path)  # CheckpointError (a UserError) says what is wrong with it
    return dict(loaded.model.state_dict()), loaded.meta



__all__ = [
    "WeightsError",
    "checkpoint_weights",
    "download_file",
    "head_name",
    "hub_checkpoints_dir",
    "load_into",
    "pretrained_file",
    "pretrained_state_dict",
    "read_state_dict",
]
