"""The stop rules as callbacks (issue 11) and the exploding-loss guard (issue 10)."""

import numpy as np
import torch

from cvstudio.core.events import EpochEnded
from cvstudio.core.models import get_preset
from cvstudio.core.specs import TrainConfig
from cvstudio.core.training import fit, new_model
from cvstudio.core.training.callbacks import DivergenceGuard, EarlyStopping, FitState, StopAtLoss, default_rules
from torch import nn


def _state(**kw):
    return FitState(nn.Linear(2, 2), TrainConfig(), **kw)


def _epoch(n, train_loss=1.0, val_acc=0.5, improved=False):
    return EpochEnded(n, train_loss, 0.5, 1.0, val_acc, 0.01, 1.0, 100.0, improved)


def test_divergence_guard_flags_nan_and_explosions():
    guard = DivergenceGuard()
    state = _state(epoch=1, step=4)
    guard.on_fit_start(state)
    guard.on_train_batches_end(state, np.array([0.7, 0.6, 5.0, 6000.0]))  # 6000 < 1e4 x 0.7: still fine
    assert not state.should_stop
    state.step = 6
    guard.on_train_batches_end(state, np.array([0.5, 7001.0]))  # 1e4 x the first loss (0.7)
    assert state.should_stop and state.status == "diverged"
    assert "exploded to 7001" in state.message and "epoch 1, step 6" in state.message
    assert "lower learning rate" in state.message

    state = _state(epoch=2, step=3)
    guard.on_fit_start(state)
    guard.on_train_batches_end(state, np.array([500.0, 2e6]))  # above the 1e6 ceiling, though < 1e4 x 500
    assert state.status == "diverged" and "step 3" in state.message

    state = _state(epoch=1, step=2)
    DivergenceGuard().on_train_batches_end(state, np.array([np.nan, 1.0]))
    assert state.status == "diverged" and "nan at epoch 1, step 1" in state.message


def test_stop_rules_and_first_stop_wins():
    state = _state()
    state.history = [_epoch(1, improved=True), _epoch(2), _epoch(3)]
    EarlyStopping(3).on_epoch_end(state, state.history[-1])
    assert not state.should_stop
    StopAtLoss(0.5).on_epoch_end(state, _epoch(3, train_loss=0.4))
    EarlyStopping(2).on_epoch_end(state, state.history[-1])
    assert state.status == "loss_reached"  # the first rule that stopped the run names it
    assert [type(r).__name__ for r in default_rules(TrainConfig(stop_loss=0.1, patience=2))] == [
        "BestWeights", "DivergenceGuard", "StopAtLoss", "EarlyStopping"
    ]


def test_exploding_loss_stops_as_diverged_and_keeps_best_weights(tiny_bundle):
    spec = get_preset("convnet")
    model = new_model(spec, tiny_bundle, 0)
    saved = {}

    class BlowUpAfterFirstEpoch:
        def on_epoch_ended(self, e):
            if e.epoch == 1:
                saved.update({k: v.clone() for k, v in model.state_dict().items()})
                with torch.no_grad():
                    model.fc2.weight.mul_(1e7)  # finite logits in the millions: a finite, exploding loss

    result = fit(model, tiny_bundle, TrainConfig(epochs=3, device="cpu"), callbacks=[BlowUpAfterFirstEpoch()])
    assert result.status == "diverged"
    assert "exploded" in result.message and "epoch 2" in result.message
    assert result.best_epoch == 1 and len(result.history) == 1
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, saved[k].to(v.dtype))
    assert np.isfinite(result.metrics["val_loss"])


def test_a_callers_training_callback_sees_the_model_and_stops_the_run(tiny_bundle):
    from cvstudio.core.training import TrainingCallback

    class StopAtEpoch2(TrainingCallback):
        seen = []

        def on_epoch_end(self, state, event):
            self.seen.append((event.epoch, state.model is model))
            if event.epoch == 2:
                state.stop("stopped", "enough at epoch 2")

    model = new_model(get_preset("convnet"), tiny_bundle, 0)
    result = fit(model, tiny_bundle, TrainConfig(epochs=5, device="cpu"), callbacks=[StopAtEpoch2()])
    assert result.status == "stopped" and result.message == "enough at epoch 2" and len(result.history) == 2
    assert StopAtEpoch2.seen == [(1, True), (2, True)]


def test_explosion_in_the_first_epoch_leaves_no_usable_weights(tiny_bundle, tmp_path):
    from cvstudio.core.runs import train_and_save

    spec = get_preset("convnet")
    calls = {"n": 0}

    def blow_up_from_step_3(module, inputs, output):
        calls["n"] += 1
        return output * 1e8 if calls["n"] >= 3 and module.training else output

    model = new_model(spec, tiny_bundle, 0)
    model.register_forward_hook(blow_up_from_step_3)
    from cvstudio.core.runs import PreparedModel

    outcome = train_and_save(spec, tiny_bundle, TrainConfig(epochs=2, batch_size=32, device="cpu"),
                             out=tmp_path / "x.safetensors", prepared=PreparedModel(model, tiny_bundle, spec, []))
    assert outcome.result.status == "diverged" and "epoch 1, step 3" in outcome.result.message
    assert outcome.result.metrics == {} and outcome.checkpoint is None
