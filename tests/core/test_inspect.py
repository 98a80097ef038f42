import numpy as np
import pytest
import torch
from torch import nn

from cvstudio.core.inspect import (
    PLAYGROUND_KERNELS,
    apply_kernel,
    conv_layers,
    feature_maps,
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
    assert not conv_layers(build_model(get_preset("mlp"), (3, 32, 32), 2))


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


# --- mosaics and the page's arrays ----------------------------------------------------------

from cvstudio.core.inspect import (  # noqa: E402
    conv_kernels,
    feature_display,
    fit_image,
    grid_columns,
    inspect_image,
    kernel_display,
    playground_code,
    relative_tiles,
    tile_mosaic,
    vector_shape,
)


def test_grid_columns_prefers_full_near_square_grids():
    assert [grid_columns(n) for n in (1, 2, 6, 8, 16, 32, 64, 7)] == [1, 2, 3, 4, 4, 8, 8, 3]


def test_tile_mosaic_places_every_tile_and_locates_points():
    tiles = np.arange(5 * 2 * 3, dtype=np.float32).reshape(5, 2, 3)
    m = tile_mosaic(tiles, columns=3, gap=1)
    assert (m.rows, m.columns, m.image.shape) == (2, 3, (2 * 2 + 1, 3 * 3 + 2))
    for i in range(5):
        top, left = m.tile_origin(i)
        np.testing.assert_array_equal(m.image[top : top + 2, left : left + 3], tiles[i])
    assert np.isnan(m.image[2]).all() and np.isnan(m.image[:, 3]).all()  # the gaps
    assert np.isnan(m.image[3:, 8:]).all()  # the empty sixth cell
    assert m.locate(4.5, 1.9) == (1, 1, 0)
    assert m.locate(3.0, 0.0) is None and m.locate(9.0, 4.0) is None and m.locate(-1, 0) is None
    assert m.locate(100, 0) is None and m.locate(float("nan"), 0) is None


def test_rgb_mosaic_keeps_colours():
    tiles = np.random.default_rng(0).normal(size=(4, 3, 3, 3)).astype(np.float32)
    m = tile_mosaic(tiles, rgb=True)
    assert m.image.shape == (7, 7, 3)
    np.testing.assert_array_equal(m.image[4:7, 4:7], tiles[3])
    with pytest.raises(ValueError):
        tile_mosaic(tiles)  # 4-D without rgb


def test_kernel_display_views_and_shared_symmetric_scale():
    model = build_model(get_preset("convnet"), (3, 32, 32), 2)
    kernels = conv_kernels(model)
    assert list(kernels) == ["conv1", "conv2"] and kernels["conv2"].shape == (8, 16, 3, 3)
    w = kernels["conv2"]
    d = kernel_display(w, "channels")
    assert (d.mosaic.count, d.mosaic.columns, d.mosaic.rows) == (128, 16, 8)
    assert d.levels == (-np.abs(w).max(), np.abs(w).max()) and d.diverging
    top, left = d.mosaic.tile_origin(3 * 16 + 5)  # kernel 3, input channel 5
    np.testing.assert_array_equal(d.mosaic.image[top : top + 3, left : left + 3], w[3, 5])
    mean = kernel_display(w, "mean")
    assert mean.mosaic.count == 8 and mean.levels[1] == pytest.approx(np.abs(w.mean(axis=1)).max())
    rgb = kernel_display(kernels["conv1"], "rgb")
    assert rgb.rgb and rgb.mosaic.image.shape[-1] == 3 and rgb.mosaic.count == 16
    rel = kernel_display(w, "mean", relative=True)
    assert rel.levels == (-1.0, 1.0) and np.nanmax(np.abs(rel.mosaic.image)) == pytest.approx(1.0)


def test_relative_tiles_scales_each_tile_and_leaves_zero_tiles():
    tiles = np.stack([np.full((2, 2), 4.0), np.zeros((2, 2)), -np.eye(2) * 0.5]).astype(np.float32)
    out = relative_tiles(tiles)
    np.testing.assert_allclose(out[0], 1.0)
    np.testing.assert_allclose(out[1], 0.0)
    np.testing.assert_allclose(out[2], -np.eye(2))


def test_feature_display_of_maps_and_vectors():
    maps = np.random.default_rng(1).normal(size=(16, 8, 8)).astype(np.float32)
    d = feature_display(maps)
    assert d.diverging and d.mosaic.count == 16 and d.mosaic.columns == 4 and d.levels[0] == -d.levels[1]
    relu = feature_display(np.maximum(maps, 0))
    assert not relu.diverging and relu.levels == (0.0, pytest.approx(np.maximum(maps, 0).max()))
    vec = feature_display(np.arange(40, dtype=np.float32))
    assert vector_shape(40) == (2, 32) and vec.mosaic.image.shape == (2, 32) and np.isnan(vec.mosaic.image[1, 8:]).all()
    assert feature_display(np.zeros((3, 4, 4))).levels == (0.0, 1.0)  # all zero: a usable scale


def test_inspect_image_denormalizes_the_input_and_gives_probabilities():
    model = build_model(get_preset("convnet"), (3, 32, 32), 2)
    image = np.random.default_rng(2).integers(0, 256, (3, 32, 32), dtype=np.uint8)
    mean, std = (0.49, 0.48, 0.45), (0.25, 0.24, 0.26)
    result = inspect_image(model, image, mean, std)
    assert np.abs(result.image.astype(int) - image.astype(int)).max() <= 1
    assert result.input.name == "input" and result.input.shape == (3, 32, 32)
    np.testing.assert_allclose(result.input.values[1], (image[1] / 255 - mean[1]) / std[1], rtol=1e-5, atol=1e-5)
    assert [m.name for m in result.maps][:3] == ["conv1", "act1", "pool1"]
    assert result.probabilities.shape == (2,) and result.probabilities.sum() == pytest.approx(1.0, abs=1e-6)


def test_fit_image_resizes_and_converts():
    image = np.full((3, 64, 48), 200, np.uint8)
    out = fit_image(image, (3, 32, 32))
    assert out.shape == (3, 32, 32) and out.dtype == np.uint8 and abs(int(out.mean()) - 200) <= 1
    assert fit_image(image, (1, 16, 16)).shape == (1, 16, 16)
    same = fit_image(out, (3, 32, 32))
    assert same is not out and np.array_equal(same, out)


def test_playground_code_reproduces_the_output():
    kernel = PLAYGROUND_KERNELS["vertical edge"]
    code = playground_code(kernel, 3, padding=0, stride=1, pool=True)
    image = np.random.default_rng(3).integers(0, 256, (3, 12, 12), dtype=np.uint8)
    scope = {"nn": nn, "torch": torch, "img": torch.from_numpy(image).float() / 255}
    exec(code, scope)  # noqa: S102 - our own generated snippet
    np.testing.assert_allclose(scope["output"][0, 0].detach().numpy(), apply_kernel(image, kernel, 0, 1, True), rtol=1e-5, atol=1e-6)
