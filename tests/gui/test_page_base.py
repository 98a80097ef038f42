"""Every page shares one skeleton (pages/base.Page): the same shutdown, a TaskGroup, a stand-alone preview."""

import inspect

import pytest

from cvstudio.gui.pages.base import Page
from cvstudio.gui.state import AppState
from cvstudio.gui.tasks import TaskGroup

PAGES = ["data", "model", "train", "inspect", "evaluate", "classify", "runs", "sweeps"]


def page_class(name):
    import importlib

    module = importlib.import_module(f"cvstudio.gui.pages.{name}")
    return next(v for k, v in vars(module).items() if k.endswith("Page") and k != "Page" and isinstance(v, type))


@pytest.mark.parametrize("name", PAGES)
def test_every_page_is_a_page_with_one_shutdown_signature(qtbot, name):
    cls = page_class(name)
    assert issubclass(cls, Page) and cls.title
    assert list(inspect.signature(cls.shutdown).parameters) == ["self", "timeout_ms"]
    page = cls(AppState())  # torch not ready: the page shows its loading state and starts no work
    qtbot.addWidget(page)
    assert isinstance(page.tasks, TaskGroup)
    assert page.shutdown(5_000) is True and page.tasks.shut_down
    assert page.tasks.start(print, "never") is None  # nothing starts after shutdown
