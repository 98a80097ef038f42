"""Per-channel statistics of uint8 image tensors."""

from __future__ import annotations

import pytest
import torch

from cvstudio.core.data import compute_stats


@pytest.mark.parametrize("channels", [1, 3])
def test_matches_torch_mean_and_population_std(channels):
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (37, channels, 9, 11), generator=g, dtype=torch.uint8)
    images[:, 0] //= 3  # channels with different statistics
    mean, std = compute_stats(images)
    x = images.double() / 255.0
    ref_mean = x.mean(dim=(0, 2, 3))
    ref_std = x.transpose(0, 1).reshape(channels, -1).std(dim=1, unbiased=False)
    assert mean == pytest.approx(ref_mean.tolist(), abs=1e-12)
    assert std == pytest.approx(ref_std.tolist(), abs=1e-12)
    assert all(isinstance(v, float) for v in mean + std)


def test_constant_images_and_chunking():
    images = torch.full((5000, 3, 2, 2), 51, dtype=torch.uint8)  # more than one chunk
    mean, std = compute_stats(images)
    assert mean == pytest.approx((0.2, 0.2, 0.2))
    assert std == pytest.approx((0.0, 0.0, 0.0), abs=1e-12)


def test_rejects_wrong_input():
    with pytest.raises(ValueError):
        compute_stats(torch.zeros(2, 3, 4, 4))  # float
    with pytest.raises(ValueError):
        compute_stats(torch.zeros(0, 3, 4, 4, dtype=torch.uint8))
