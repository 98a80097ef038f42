"""Architecture files: a ModelSpec saved alone as a small JSON document.

The model builder saves the network it shows (``ModelSpec.to_dict``) so it
can be loaded again, shared or versioned. A spec file read back is untrusted:
its size is capped, NaN/Infinity and deep nesting are refused, and the spec
goes through ``ModelSpec.from_dict``, whose validators range-check every
field. Any problem is one :class:`SpecError` line; nothing is half loaded.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from cvstudio.core.atomic import replacing
from cvstudio.core.errors import SpecError
from cvstudio.core.specs import ModelSpec

SPEC_FORMAT = "cvstudio-model-spec"
SPEC_VERSION = 1
MAX_SPEC_BYTES = 1 << 20  # 1 MiB: thousands of layers; anything bigger is not a spec
MAX_LAYERS = 1000
SPEC_KEYS = frozenset({"name", "loss", "layers", "arch", "weights"})  # what ModelSpec.to_dict writes
MAX_MESSAGE = 160  # characters of a validator's message shown (it may quote hostile text)


def spec_document(spec: ModelSpec) -> dict:
    return {"format": SPEC_FORMAT, "version": SPEC_VERSION, "model_spec": spec.to_dict()}


def save_spec(spec: ModelSpec, path: str | os.PathLike[str]) -> None:
    """Write ``spec`` to ``path`` atomically (the old file stays whole if writing fails)."""
    text = json.dumps(spec_document(spec), indent=2, allow_nan=False) + "\n"
    target = Path(path)
    try:
        with replacing(target) as tmp:
            tmp.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"cannot save the architecture to {target}: {exc.strerror or exc}") from None


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number a spec can hold")


def load_spec(path: str | os.PathLike[str]) -> ModelSpec:
    """Read and validate an architecture file written by :func:`save_spec` (or a bare spec object)."""
    target = Path(path)
    try:
        with open(target, "rb") as f:
            raw = f.read(MAX_SPEC_BYTES + 1)
    except OSError as exc:
        raise SpecError(f"cannot read {target.name}: {exc.strerror or exc}") from None
    if len(raw) > MAX_SPEC_BYTES:
        raise SpecError(f"{target.name} is not an architecture file: larger than {MAX_SPEC_BYTES // 1024} KB")
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except RecursionError:
        raise SpecError(f"{target.name} is not an architecture file: nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SpecError(f"{target.name} is not an architecture file: not valid JSON ({first[:MAX_MESSAGE]})") from None
    if isinstance(data, dict) and "model_spec" in data:
        if data.get("format") != SPEC_FORMAT:
            raise SpecError(f"{target.name} is not a CV Studio architecture file")
        version = data.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise SpecError(f"{target.name} has no valid format version")
        if version > SPEC_VERSION:
            raise SpecError(f"{target.name} was saved by a newer CV Studio (format {version}, this one reads "
                            f"{SPEC_VERSION})")
        data = data["model_spec"]
    if isinstance(data, dict):
        unknown = sorted(str(k)[:40] for k in set(data) - SPEC_KEYS)
        if unknown:
            raise SpecError(f"{target.name}: the model spec has unknown settings: {', '.join(map(repr, unknown[:5]))}")
    if isinstance(data, dict) and isinstance(data.get("layers"), list) and len(data["layers"]) > MAX_LAYERS:
        raise SpecError(f"{target.name} has {len(data['layers']):,} layers; at most {MAX_LAYERS:,} are accepted")
    try:
        spec = ModelSpec.from_dict(data)
    except SpecError as exc:
        raise SpecError(f"{target.name}: {_one_line(exc)}") from None
    except (TypeError, ValueError, OverflowError) as exc:  # e.g. a field the dataclass does not take
        raise SpecError(f"{target.name}: not a valid model spec ({_one_line(exc)})") from None
    return spec


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


__all__ = ["MAX_SPEC_BYTES", "SPEC_FORMAT", "SPEC_VERSION", "load_spec", "save_spec", "spec_document"]
