"""The CPU's faster Tanh: same values and gradients as torch.tanh, swapped in only where it pays."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from cvstudio.core.models import activations, build_model, get_preset
from cvstudio.core.models.activations import MIN_ELEMENTS, FastTanh, fast_tanh, use_fast_tanh
from cvstudio.core.models.builder import prepare_for_device


def _convnet() -> nn.Module:
    torch.manual_seed(0)
    return build_model(get_preset("convnet"), (3, 32, 32), 4)


def test_fast_tanh_matches_torch_tanh_everywhere():
    x = torch.cat([torch.linspace(-30, 30, 100_001), torch.tensor([0.0, -0.0, 1e-30, math.inf, -math.inf])])
    got, want = fast_tanh(x), torch.tanh(x)
    assert torch.allclose(got, want, rtol=0, atol=2.5e-7)
    assert got[-2].item() == 1.0 and got[-1].item() == -1.0
    assert torch.isnan(fast_tanh(torch.tensor([math.nan]))).all()


def test_fast_tanh_gradients_are_tanh_gradients():
    x = torch.randn(64, 256, requires_grad=True)
    g = torch.randn(64, 256)
    fast_tanh(x).backward(g)
    fast_grad = x.grad.clone()
    x.grad = None
    torch.tanh(x).backward(g)
    assert torch.allclose(fast_grad, x.grad, atol=1e-6)
    xd = torch.randn(8, 300, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(fast_tanh, (xd,))
    assert torch.autograd.gradgradcheck(fast_tanh, (xd,))  # saliency may differentiate twice


def test_fast_tanh_module_is_a_tanh_and_leaves_small_tensors_to_torch():
    m = FastTanh()
    assert isinstance(m, nn.Tanh) and m.state_dict() == {}
    small = torch.randn(MIN_ELEMENTS - 1)
    assert torch.equal(m(small), torch.tanh(small))  # bit for bit: the library's own tanh
    large = torch.randn(4, MIN_ELEMENTS)
    assert torch.allclose(m(large), torch.tanh(large), atol=2.5e-7)


def test_scripted_model_uses_plain_tanh(monkeypatch):
    monkeypatch.setattr(activations, "sigmoid_form_is_faster", lambda: True)
    model = _convnet().eval()
    assert use_fast_tanh(model) == 3
    scripted = torch.jit.script(model)
    graph = str(scripted.inlined_graph)
    assert "aten::tanh" in graph and "sigmoid" not in graph
    x = torch.randn(64, 3, 32, 32)
    with torch.inference_mode():
        assert torch.allclose(scripted(x), model(x), atol=1e-5)


def test_swap_only_where_it_pays(monkeypatch):
    monkeypatch.setattr(activations, "sigmoid_form_is_faster", lambda: False)
    model = _convnet()
    assert use_fast_tanh(model) == 0
    assert not any(isinstance(m, FastTanh) for m in model.modules())
    monkeypatch.setattr(activations, "sigmoid_form_is_faster", lambda: True)
    assert use_fast_tanh(model) == 3
    assert use_fast_tanh(model) == 0  # already swapped
    assert [type(m) for m in model.modules() if isinstance(m, nn.Tanh)] == [FastTanh] * 3


def test_prepared_model_computes_what_it_did(monkeypatch):
    monkeypatch.setattr(activations, "sigmoid_form_is_faster", lambda: True)
    model = _convnet().eval()
    reference = _convnet().eval()
    assert prepare_for_device(model, torch.device("cpu")) is True  # convolutions: channels-last inputs
    assert sum(isinstance(m, FastTanh) for m in model.modules()) == 3
    assert model.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.randn(64, 3, 32, 32)
    with torch.inference_mode():
        assert torch.allclose(model(x), reference(x), atol=1e-5)
    mlp = build_model(get_preset("mlp"), (3, 32, 32), 4)
    assert prepare_for_device(mlp, torch.device("cpu")) is False
    assert sum(isinstance(m, FastTanh) for m in mlp.modules()) == 1


def test_the_measurement_decides_once():
    activations.sigmoid_form_is_faster.cache_clear()
    first = activations.sigmoid_form_is_faster()
    assert isinstance(first, bool)
    assert activations.sigmoid_form_is_faster.cache_info().hits == 0
    assert activations.sigmoid_form_is_faster() is first
    assert activations.sigmoid_form_is_faster.cache_info().hits == 1


@pytest.mark.parametrize("use", [True, False])
def test_training_evaluating_and_classifying_use_it_when_it_pays(monkeypatch, tiny_bundle, use):
    from cvstudio.core.checkpoints import CheckpointMeta
    from cvstudio.core.evaluate import predict_split
    from cvstudio.core.inference import Classifier
    from cvstudio.core.specs import TrainConfig
    from cvstudio.core.training import fit, new_model

    monkeypatch.setattr(activations, "sigmoid_form_is_faster", lambda: use)
    swapped = (lambda model: sum(isinstance(m, FastTanh) for m in model.modules()))
    spec = get_preset("convnet")
    trained = new_model(spec, tiny_bundle, 0)
    seen = []

    class WhileRunning:
        def on_fit_started(self, event):
            seen.append(swapped(trained))

        def on_progress(self, event):
            if event.stage == "evaluate":
                seen.append(swapped(evaluated))

    fit(trained, tiny_bundle, TrainConfig(epochs=1, device="cpu"), callbacks=[WhileRunning()])
    assert seen == [3 if use else 0]
    assert swapped(trained) == 0  # handed back as built

    evaluated = new_model(spec, tiny_bundle, 0)
    probs = predict_split(evaluated, tiny_bundle.val, tiny_bundle.mean, tiny_bundle.std, callbacks=[WhileRunning()])
    assert seen[1:] and set(seen[1:]) == {3 if use else 0}
    assert swapped(evaluated) == 0
    assert np.allclose(probs.sum(1), 1.0, atol=1e-5)

    c, h, w = tiny_bundle.input_shape
    meta = CheckpointMeta(model_spec=spec, class_names=tiny_bundle.class_names, input_shape=(c, h, w),
                          mean=tiny_bundle.mean, std=tiny_bundle.std)
    clf = Classifier(new_model(spec, tiny_bundle, 0), meta)
    assert swapped(clf.model) == (3 if use else 0)


def test_a_trained_model_answers_exactly_as_its_reloaded_checkpoint(monkeypatch, tiny_bundle, tmp_path):
    """What ``cvstudio --self-test`` checks in the installed bundle: training may run the faster Tanh,
    but the model it hands back is the one its checkpoint holds, to the bit."""
    from cvstudio.core.checkpoints import load_checkpoint
    from cvstudio.core.runs import train_and_save
    from cvstudio.core.specs import DataConfig, TrainConfig

    monkeypatch.setattr(activations, "sigmoid_form_is_faster", lambda: True)
    outcome = train_and_save(get_preset("convnet"), tiny_bundle, TrainConfig(epochs=1, device="cpu"), DataConfig(),
                             out=tmp_path / "model.safetensors")
    loaded = load_checkpoint(outcome.checkpoint)
    x = torch.rand(64, *tiny_bundle.input_shape)  # 64x8x16x16 after the first conv: the fast path's size
    with torch.inference_mode():
        assert torch.equal(outcome.model(x), loaded.model(x))


def test_a_model_comes_back_with_the_tanh_it_was_given(monkeypatch, tiny_bundle):
    """The Classify page wraps the app's model in a Classifier (swapped); evaluating or training that same
    model must not take the Classifier's faster Tanh away."""
    from cvstudio.core.checkpoints import CheckpointMeta
    from cvstudio.core.evaluate import predict_split
    from cvstudio.core.inference import Classifier
    from cvstudio.core.specs import TrainConfig
    from cvstudio.core.training import fit, new_model

    monkeypatch.setattr(activations, "sigmoid_form_is_faster", lambda: True)
    spec = get_preset("convnet")
    model = new_model(spec, tiny_bundle, 0)
    meta = CheckpointMeta(model_spec=spec, class_names=tiny_bundle.class_names, input_shape=tiny_bundle.input_shape,
                          mean=tiny_bundle.mean, std=tiny_bundle.std)
    clf = Classifier(model, meta)
    assert clf.model is model and activations.has_fast_tanh(model)
    predict_split(model, tiny_bundle.val, tiny_bundle.mean, tiny_bundle.std)
    assert sum(isinstance(m, FastTanh) for m in model.modules()) == 3
    fit(model, tiny_bundle, TrainConfig(epochs=1, device="cpu"))
    assert sum(isinstance(m, FastTanh) for m in model.modules()) == 3
    assert activations.use_library_tanh(model) == 3 and not activations.has_fast_tanh(model)
