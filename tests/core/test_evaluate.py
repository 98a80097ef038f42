import math

import numpy as np
import pytest
import torch

from cvstudio.core.evaluate import (
    confusion_matrix,
    evaluate_split,
    find_lr,
    normalized_rows,
    overfitting_warning,
    per_class_metrics,
    suggest_lr,
    top_losses,
)
from cvstudio.core.errors import ConfigError
from cvstudio.core.models import get_preset
from cvstudio.core.specs import TrainConfig
from cvstudio.core.training import fit, new_model
from tests.conftest import make_tiny_bundle


def test_confusion_matrix_and_metrics_against_hand_computed_values():
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    preds = np.array([0, 0, 1, 1, 0, 2, 2, 1, 2])
    cm = confusion_matrix(labels, preds, 3)
    np.testing.assert_array_equal(cm, [[2, 1, 0], [1, 1, 0], [0, 1, 3]])
    m = per_class_metrics(cm, ("a", "b", "c"))
    assert [r.support for r in m] == [3, 2, 4]
    assert m[0].precision == pytest.approx(2 / 3) and m[0].recall == pytest.approx(2 / 3)
    assert m[1].precision == pytest.approx(1 / 3) and m[1].recall == pytest.approx(1 / 2)
    assert m[2].precision == pytest.approx(1.0) and m[2].recall == pytest.approx(3 / 4)
    assert m[1].f1 == pytest.approx(2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2))
    np.testing.assert_allclose(normalized_rows(cm)[2], [0, 0.25, 0.75])
    never_predicted = per_class_metrics(confusion_matrix(np.array([0, 1]), np.array([0, 0]), 2), ("a", "b"))
    assert math.isnan(never_predicted[1].precision) and never_predicted[1].recall == 0


def test_top_losses_order_most_confidently_wrong_first():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.45, 0.55], [0.01, 0.99], [0.6, 0.4]])
    labels = np.array([0, 0, 0, 0, 1])
    assert top_losses(probs, labels).tolist() == [3, 1, 4, 2]
    assert top_losses(probs, labels, k=2).tolist() == [3, 1]
    assert top_losses(probs, labels, wrong_only=False)[-1] == 0


def test_overfitting_warning():
    assert overfitting_warning(0.998, 0.82) is not None and "overfitting" in overfitting_warning(0.998, 0.82)
    assert overfitting_warning(0.91, 0.89) is None


def test_evaluate_split_on_a_trained_model(tiny_bundle):
    spec = get_preset("convnet")
    model = new_model(spec, tiny_bundle, 0)
    fit(model, tiny_bundle, TrainConfig(epochs=2, lr=0.05, device="cpu"))
    ev = evaluate_split(model, tiny_bundle)
    assert ev.probs.shape == (64, 2) and ev.confusion.sum() == 64
    np.testing.assert_allclose(ev.probs.sum(1), 1, rtol=1e-5)
    assert ev.accuracy > 0.9
    for t in range(2):
        for p in range(2):
            assert len(ev.cell_indices(t, p)) == ev.confusion[t, p]


def test_lr_finder_leaves_the_model_untouched(tiny_bundle):
    spec = get_preset("convnet")
    model = new_model(spec, tiny_bundle, 0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = find_lr(model, tiny_bundle, TrainConfig(batch_size=16, device="cpu"), steps=60, start_lr=1e-5, end_lr=10)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])
    assert len(result.lrs) == len(result.losses) >= 20
    assert np.all(np.diff(result.lrs) > 0)
    assert result.suggestion is not None and 1e-5 < result.suggestion < 10


def test_suggestion_is_the_steepest_descent():
    lrs = np.logspace(-6, 0, 100)
    losses = 1 / (1 + np.exp((np.log10(lrs) + 3) * 3))  # falls fastest at 1e-3
    assert suggest_lr(lrs, losses) == pytest.approx(1e-3, rel=0.3)
    assert suggest_lr(lrs, np.linspace(1, 2, 100)) is None


def test_lr_finder_rejects_bad_range(tiny_bundle):
    model = new_model(get_preset("convnet"), tiny_bundle, 0)
    with pytest.raises(ConfigError):
        find_lr(model, tiny_bundle, TrainConfig(device="cpu"), start_lr=1, end_lr=0.1)


def test_evaluation_stops_through_the_run_control(monkeypatch):
    import cvstudio.core.evaluate as evaluate
    from cvstudio.core.control import RunControl

    bundle = make_tiny_bundle(n_train=16, n_val=40)
    monkeypatch.setattr(evaluate, "EVAL_BATCH_SIZE", 8)
    torch.manual_seed(0)
    model = new_model(get_preset("convnet"), bundle, 0)
    control = RunControl()

    class StopAfterFirstBatch:  # the stop comes from outside, like the page's Cancel button; no exception
        def on_progress(self, event):
            control.request_stop()

    probs = evaluate.predict_split(model, bundle.val, bundle.mean, bundle.std, callbacks=[StopAfterFirstBatch()],
                                   control=control)
    assert probs.shape == (8, 2)  # the first batch: a prefix
    assert evaluate.evaluate_split(model, bundle, "val", control=control) is None
    assert evaluate.evaluate_split(model, bundle, "val", control=RunControl()).probs.shape == (40, 2)
