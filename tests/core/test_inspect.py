import numpy as np
import pytest
import torch
from torch import nn

from cvstudio.core.inspect import (
    PLAYGROUND_KERNELS,
    apply_kernel,
    conv_layers,
    feature_maps,
    has_conv,
    kernel_tiles,
    kernel_weights,
    playground_output_size,
    symmetric_limit,
)
from cvstudio.core.models import build_model, get_preset


def test_kernels_of_a_convnet():
    model = build_model(get_preset("convnet"), (3, 32, 32), 2)
    assert [n for n, _ in conv_layers(model)] == ["conv1", "conv2"]
    w = kernel_weights(model, "conv1")
    assert w.shape == (16, 3, 3, 3)
    np.testing.assert_array_equal(w, model.conv1.weight.detach().numpy())
    assert kernel_tiles(w, "rgb").shape == (16, 3, 3, 3) and kernel_tiles(w, "rgb")[2, 0, 1, 2] == w[2, 2, 0, 1]
    w2 = kernel_weights(model, "conv2")
    assert kernel_tiles(w2, "channels").shape == (8, 16, 3, 3)
    np.testing.assert_allclose(kernel_tiles(w2, "mean"), w2.mean(axis=1))
    with pytest.raises(ValueError, match="3 input channels"):
        kernel_tiles(w2, "rgb")
    with pytest.raises(KeyError):
        kernel_weights(model, "fc1")
    assert symmetric_limit(np.array([-3.0, 1.0])) == 3.0


def test_residual_convs_are_found_and_mlp_has_none():
    assert "res1.conv1" in [n for n, _ in conv_layers(build_model(get_preset("resnet"), (3, 32, 32), 2))]
    assert not has_conv(build_model(get_preset("mlp"), (3, 32, 32), 2))


def test_feature_maps_shapes_and_values():
    model = build_model(get_preset("convnet"), (3, 32, 32), 2)
    x = torch.randn(1, 3, 32, 32)
    maps = feature_maps(model, x)
    shapes = {m.name: m.shape for m in maps}
    assert shapes["conv1"] == (16, 32, 32) and shapes["pool1"] == (16, 16, 16) and shapes["fc2"] == (2,)
    assert [m.name for m in maps] == [n for n, _ in model.named_children()]
    with torch.no_grad():
        np.testing.assert_allclose(maps[0].values, model.conv1(x)[0].numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(maps[-1].values, model(x)[0].numpy(), rtol=1e-5, atol=1e-6)


def test_conv_set_to_box_blur_matches_manual_computation():
    """The cheatsheet: conv.weight.fill_(1/9), bias 0 -> each output pixel is the sum over channels of a 3x3 mean."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (3, 8, 8), dtype=np.uint8)
    out = apply_kernel(image, PLAYGROUND_KERNELS["box blur"], padding=0)
    x = image.astype(np.float64) / 255
    manual = np.zeros((6, 6))
    for i in range(6):
        for j in range(6):
            manual[i, j] = x[:, i : i + 3, j : j + 3].sum() / 9
    np.testing.assert_allclose(out, manual, rtol=1e-5)
    # the same through a model's conv layer whose weights are set by hand, read back with feature_maps
    model = nn.Sequential()
    model.add_module("conv1", nn.Conv2d(3, 1, 3))
    with torch.no_grad():
        model.conv1.weight.fill_(1 / 9)
        model.conv1.bias.zero_()
    fm = feature_maps(model, torch.from_numpy(x).float()[None])[0]
    np.testing.assert_allclose(fm.values[0], manual, rtol=1e-5)


def test_vertical_edge_kernel_responds_to_vertical_edges_only():
    image = np.zeros((3, 8, 8), np.uint8)
    image[:, :, 4:] = 255  # dark left, bright right: one vertical edge
    out = apply_kernel(image, PLAYGROUND_KERNELS["vertical edge"], padding=0)
    assert out[:, 2:4].min() > 0 and np.allclose(out[:, :2], 0) and np.allclose(out[:, 5:], 0)
    assert np.allclose(apply_kernel(image, PLAYGROUND_KERNELS["horizontal edge"], padding=0), 0)


@pytest.mark.parametrize("kernel", ["box blur", "gaussian 5x5"])
@pytest.mark.parametrize("padding", [0, 1, 2])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("pool", [False, True])
def test_playground_shapes_follow_the_rules(kernel, padding, stride, pool):
    image = np.zeros((3, 32, 32), np.uint8)
    k = PLAYGROUND_KERNELS[kernel].shape[0]
    out = apply_kernel(image, PLAYGROUND_KERNELS[kernel], padding=padding, stride=stride, pool=pool)
    expected = playground_output_size(32, k, padding, stride, pool)
    assert out.shape == (expected, expected)


def test_cheatsheet_shape_examples():
    assert playground_output_size(32, 3, 0, 1, False) == 30
    assert playground_output_size(32, 3, 1, 1, False) == 32
    assert playground_output_size(32, 3, 1, 1, True) == 16
