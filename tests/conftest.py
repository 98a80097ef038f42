import os

# Set before anything imports Qt or cvstudio.core.paths.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory, monkeypatch):
    """Every test gets its own cache/data/runs/logs folders, never the user's."""
    home = tmp_path_factory.mktemp("cvstudio_home")
    monkeypatch.setenv("CVSTUDIO_HOME", str(home))
    yield home


@pytest.fixture(scope="session")
def shared_cache_home(tmp_path_factory):
    """A home shared across tests, for tests that only read a cached dataset."""
    return tmp_path_factory.mktemp("shared_home")
