"""The learning-rate finder draws its curve point by point while it sweeps, and Cancel keeps what was drawn."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from cvstudio.gui.state import AppState
from tests.conftest import make_tiny_bundle

WAIT_MS = 60_000


@pytest.fixture
def lr_state():
    from cvstudio.core.models import get_preset

    state = AppState()
    state.mark_torch_ready()
    state.set_dataset(make_tiny_bundle(n_train=128, n_val=32, classes=2, size=16))
    state.set_spec(get_preset("mlp"))
    state.set_train_config(dataclasses.replace(state.train_config, batch_size=16, optimizer="sgd", lr=0.01))
    return state


def test_the_curve_grows_while_the_sweep_runs_and_cancel_keeps_it(qtbot, lr_state):
    from cvstudio.gui.widgets.lr_finder import LRFinderDialog

    dialog = LRFinderDialog(lr_state, autostart=False)
    qtbot.addWidget(dialog, before_close_func=lambda d: d.wait())
    dialog.start_spin.setValue(1e-5)
    dialog.end_spin.setValue(1e-2)  # a range where the loss does not explode: the sweep runs all its steps
    dialog.steps_spin.setValue(20_000)
    dialog.show()
    with qtbot.waitSignal(dialog.run_finished, timeout=WAIT_MS) as finished:
        assert dialog.run()
        qtbot.waitUntil(lambda: dialog.curve.getData()[0] is not None and len(dialog.curve.getData()[0]) >= 5,
                        timeout=WAIT_MS)
        assert dialog.running  # drawn before the sweep ended
        first = len(dialog.curve.getData()[0])
        qtbot.waitUntil(lambda: len(dialog.curve.getData()[0]) > first, timeout=WAIT_MS)
        xs, ys = dialog.curve.getData()
        assert np.all(np.diff(xs) > 0) and np.all(np.isfinite(ys))  # in order, as measured
        assert "Sweeping the learning rate…" in dialog.message.text()
        dialog.cancel_button.click()
    result = finished.args[0]
    qtbot.waitUntil(lambda: not dialog.running, timeout=WAIT_MS)
    assert 0 < len(result.lrs) < 20_000
    assert len(dialog.curve.getData()[0]) == len(result.lrs)  # the final curve is the measured one
