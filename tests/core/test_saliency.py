"""Saliency: Grad-CAM and input gradients point where the (hand-made) model looks, and touch nothing."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from torch import nn

from cvstudio.core.checkpoints import CheckpointMeta
from cvstudio.core.inference import Classifier, normalize
from cvstudio.core.models.builder import build_model
from cvstudio.core.models.presets import get_preset
from cvstudio.core.saliency import (
    Saliency,
    colorize,
    compute_saliency,
    explain,
    grad_cam,
    input_gradient,
    last_conv_layer,
    overlay,
    saliency_method,
    turbo,
)
from cvstudio.core.specs import LayerSpec, ModelSpec

SIZE = 16
CLASSES = ("red", "green")


def colour_detector() -> nn.Sequential:
    """conv 1x1 with channel 0 = red and channel 1 = green, ReLU, global average, linear: class k <- channel k."""
    spec = ModelSpec(
        "colours",
        (
            LayerSpec("conv", out=2, kernel=1),
            LayerSpec("activation", fn="relu"),
            LayerSpec("global_avgpool"),
            LayerSpec("linear", out=None),
        ),
    )
    model = build_model(spec, (3, SIZE, SIZE), 2)
    with torch.no_grad():
        conv, fc = model.conv1, model.fc1
        conv.weight.zero_()
        conv.bias.zero_()
        conv.weight[0, 0] = 1.0
        conv.weight[1, 1] = 1.0
        fc.weight.copy_(torch.eye(2) * 10)
        fc.bias.zero_()
    return model.eval()


def two_squares() -> torch.Tensor:
    """Black image, a red square top-left and a bigger green square bottom-right (values 0..1)."""
    x = torch.zeros(3, SIZE, SIZE)
    x[0, 1:5, 1:5] = 1.0
    x[1, 8:15, 8:15] = 1.0
    return x


def quadrant_mass(heat: np.ndarray) -> np.ndarray:
    h = SIZE // 2
    return np.array([[heat[:h, :h].sum(), heat[:h, h:].sum()], [heat[h:, :h].sum(), heat[h:, h:].sum()]])


def test_grad_cam_finds_the_object_of_each_class():
    model = colour_detector()
    x = two_squares()
    assert last_conv_layer(model) == "conv1" and saliency_method(model) == "grad-cam"

    green = grad_cam(model, x)  # the larger green square wins
    assert isinstance(green, Saliency) and green.method == "grad-cam" and green.layer == "conv1"
    assert green.target == 1 and green.probability > 0.5
    assert green.heatmap.shape == (SIZE, SIZE) and green.heatmap.dtype == np.float32
    assert green.heatmap.max() == pytest.approx(1.0) and green.heatmap.min() >= 0
    mass = quadrant_mass(green.heatmap)
    assert mass[1, 1] > 0.9 * mass.sum()
    assert green.heatmap[11, 11] == pytest.approx(1.0) and green.heatmap[2, 2] < 0.05

    red = grad_cam(model, x, target=0)
    assert red.target == 0 and red.probability < 0.5
    assert quadrant_mass(red.heatmap)[0, 0] > 0.9 * quadrant_mass(red.heatmap).sum()
    assert red.description == "Grad-CAM on conv1"


def test_grad_cam_on_a_model_that_is_not_sequential():
    class Wrapped(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = colour_detector()

        def forward(self, x):
            return self.inner(x)

    model = Wrapped().eval()
    red = grad_cam(model, two_squares(), target=0)
    assert red.layer == "inner.conv1"
    assert quadrant_mass(red.heatmap)[0, 0] > 0.9 * quadrant_mass(red.heatmap).sum()
    assert not model.inner.conv1._forward_hooks  # the hook is gone again


def test_input_gradient_of_an_mlp_follows_its_weights():
    spec = ModelSpec("lin", (LayerSpec("linear", out=None), LayerSpec("logsoftmax")), loss="nll")
    model = build_model(spec, (3, SIZE, SIZE), 2).eval()
    with torch.no_grad():
        w = torch.zeros(2, 3, SIZE, SIZE)
        w[0, 0, :4, :4] = 2.0  # class 0 looks at the top-left red pixels
        w[0, 2, 2, 2] = -8.0  # ... and strongly (negatively) at one blue pixel
        w[1, 1, 12:, 12:] = 1.0  # class 1 at bottom-right green pixels
        model.fc1.weight.copy_(w.view(2, -1))
        model.fc1.bias.zero_()
    assert last_conv_layer(model) is None and saliency_method(model) == "input-gradient"
    x = torch.rand(3, SIZE, SIZE)
    s = input_gradient(model, x, target=0)
    assert s.method == "input-gradient" and s.layer is None and s.description == "input gradients"
    assert s.heatmap.shape == (SIZE, SIZE)
    assert (s.heatmap[:4, :4] > 0).all() and s.heatmap[4:, :].max() == 0 and s.heatmap[:, 4:].max() == 0
    assert s.heatmap[2, 2] == pytest.approx(1.0)  # the largest magnitude over channels, sign ignored
    s1 = compute_saliency(model, x, target=1)
    assert s1.method == "input-gradient" and s1.heatmap[12:, 12:].min() > 0 and s1.heatmap[:12, :12].max() == 0
    with pytest.raises(ValueError, match="needs a convolutional layer"):
        grad_cam(model, x)


@pytest.mark.parametrize("preset", ["convnet", "convnet-batchnorm", "resnet", "mlp"])
def test_real_presets_through_the_classifier(preset):
    torch.manual_seed(0)
    spec = get_preset(preset, width=8)
    shape = (3, 32, 32)
    model = build_model(spec, shape, 3).eval()
    meta = CheckpointMeta(spec, ("a", "b", "c"), shape, (0.5,) * 3, (0.25,) * 3)
    clf = Classifier(model, meta)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    grads_wanted = [p.requires_grad for p in model.parameters()]
    image = torch.randint(0, 256, shape, dtype=torch.uint8)

    with torch.inference_mode():  # callers may be in inference mode; explain must still work
        s = explain(clf, image)
    probs = clf.probabilities(image)[0]
    assert s.target == int(probs.argmax()) and s.probability == pytest.approx(float(probs.max()), abs=1e-5)
    assert s.heatmap.shape == (32, 32) and 0 <= s.heatmap.min() and s.heatmap.max() <= 1
    expected = "input-gradient" if preset == "mlp" else "grad-cam"
    assert s.method == expected
    if preset == "convnet":
        assert s.layer == "conv2"  # after its Tanh, before the pooling
    if preset == "resnet":
        assert s.layer.startswith("res")
    # an (H, W, C) numpy image gives the same answer, and other classes can be asked for
    same = explain(clf, image.permute(1, 2, 0).numpy(), target=s.target)
    assert np.allclose(same.heatmap, s.heatmap, atol=1e-6)
    other = explain(clf, image, target=(s.target + 1) % 3)
    assert other.target == (s.target + 1) % 3
    # nothing about the model changed: weights, grads, requires_grad, hooks, mode
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
    assert [p.requires_grad for p in model.parameters()] == grads_wanted
    assert not any(m._forward_hooks or m._backward_hooks for m in model.modules())
    assert not model.training


def test_bad_arguments():
    model = colour_detector()
    with pytest.raises(ValueError, match="out of range"):
        grad_cam(model, two_squares(), target=5)
    with pytest.raises(ValueError, match="no layer"):
        grad_cam(model, two_squares(), layer="nope")
    with pytest.raises(ValueError, match="unknown saliency method"):
        compute_saliency(model, two_squares(), method="lime")
    with pytest.raises(ValueError, match="one normalized image"):
        grad_cam(model, torch.zeros(2, 3, SIZE, SIZE))
    spec = get_preset("convnet", width=4)
    clf = Classifier(build_model(spec, (3, 32, 32), 2), CheckpointMeta(spec, CLASSES, (3, 32, 32), (0.5,) * 3, (0.2,) * 3))
    with pytest.raises(ValueError, match="expected an image of shape"):
        explain(clf, torch.zeros(3, 16, 16, dtype=torch.uint8))
    with pytest.raises(TypeError, match="uint8"):
        explain(clf, torch.zeros(3, 32, 32))


def test_a_black_image_gives_an_empty_heatmap_not_nan():
    s = grad_cam(colour_detector(), torch.zeros(3, SIZE, SIZE))
    assert np.isfinite(s.heatmap).all() and s.heatmap.max() == 0


def test_explain_while_another_thread_classifies():
    torch.manual_seed(1)
    spec = get_preset("convnet", width=8)
    clf = Classifier(build_model(spec, (3, 32, 32), 2), CheckpointMeta(spec, CLASSES, (3, 32, 32), (0.5,) * 3, (0.25,) * 3))
    batch = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8)
    expected = clf.probabilities(batch)
    image = batch[0]
    reference = explain(clf, image).heatmap
    errors: list[BaseException] = []

    def classify_many():
        try:
            for _ in range(30):
                assert np.allclose(clf.probabilities(batch), expected, atol=1e-5)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    t = threading.Thread(target=classify_many)
    t.start()
    for _ in range(30):
        assert np.allclose(explain(clf, image).heatmap, reference, atol=1e-5)
    t.join()
    assert not errors


def test_colours_and_overlay():
    c = turbo(np.array([0.2, 0.5, 1.0]))
    assert c.shape == (3, 3) and c.dtype == np.float32 and (0 <= c).all() and (c <= 1).all()
    assert c[0, 2] > c[0, 0]  # low = blue-ish
    assert c[2, 0] > c[2, 2]  # high = red-ish
    heat = np.zeros((4, 6), np.float32)
    heat[1, 2] = 1.0
    rgba = colorize(heat, alpha=0.8)
    assert rgba.shape == (4, 6, 4) and rgba.dtype == np.uint8
    assert rgba[0, 0, 3] == 0 and rgba[1, 2, 3] == round(0.8 * 255)
    image = np.full((4, 6, 3), 100, np.uint8)
    out = overlay(image, heat, alpha=0.8)
    assert out.shape == (4, 6, 3) and out.dtype == np.uint8
    assert (out[0, 0] == 100).all() and not (out[1, 2] == 100).all()
    gray = overlay(np.full((1, 4, 6), 50, np.uint8), heat)  # (C, H, W) grayscale works too
    assert gray.shape == (4, 6, 3) and (gray[3, 5] == 50).all()
    with pytest.raises(ValueError, match="does not match"):
        overlay(image, np.zeros((5, 5)))


def test_normalization_matches_the_classifier():
    """explain() normalizes with the checkpoint's statistics, exactly like classifying does."""
    model = colour_detector()
    mean, std = (0.1, 0.2, 0.3), (0.5, 0.6, 0.7)
    clf = Classifier(model, CheckpointMeta(ModelSpec("colours", (LayerSpec("linear"),)), CLASSES, (3, SIZE, SIZE), mean, std))
    image = (two_squares() * 255).to(torch.uint8)
    direct = grad_cam(model, normalize(image, mean, std))
    assert np.array_equal(explain(clf, image).heatmap, direct.heatmap)
