"""Per-user folders (cache, data, runs, logs), overridable by environment.

CVSTUDIO_HOME moves all of them under one folder (tests and portable installs
use it); otherwise the platform's conventional locations are used.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "cvstudio"


def _base(kind: str) -> Path:
    home = os.environ.get("CVSTUDIO_HOME")
    if home:
        return Path(home) / kind
    finder = {
        "cache": platformdirs.user_cache_dir,
        "data": platformdirs.user_data_dir,
        "logs": platformdirs.user_log_dir,
    }[kind]
    return Path(finder(APP_NAME, appauthor=False))


def cache_dir() -> Path:
    """Decoded-dataset cache; safe to delete at any time."""
    return _base("cache")


def data_dir() -> Path:
    """Default root for torchvision datasets."""
    return _base("data") / "datasets"


def runs_dir() -> Path:
    """Checkpoints saved automatically at the end of each run."""
    return _base("data") / "runs"


def exports_dir() -> Path:
    """Default folder for models exported as ONNX, TorchScript or Python."""
    return _base("data") / "exports"


def log_dir() -> Path:
    return _base("logs")
