"""Augmentation lists (issue 13): parsing, whole-batch application, aliases and the preview."""

import pytest
import torch

from cvstudio.core.data.augment import BatchAugmenter, augment_preview
from cvstudio.core.data.batches import BatchLoader
from cvstudio.core.errors import ConfigError
from cvstudio.core.specs import DataConfig, parse_augment
from tests.conftest import make_tiny_bundle


def test_parse_orders_steps_and_keeps_the_aliases():
    assert parse_augment("none") == ()
    assert parse_augment("flip-crop") == ("crop", "flip")
    assert parse_augment("trivial, flip,resized-crop") == ("resized-crop", "flip", "trivial")
    for bad in ("blur", "flip,,sharpen", "", "x" * 10_000):
        with pytest.raises(ConfigError) as info:
            DataConfig(augment=bad)
        assert "\n" not in str(info.value) and len(str(info.value)) < 200


def test_flip_crop_alias_draws_exactly_as_crop_flip():
    bundle = make_tiny_bundle(n_train=64, n_val=8)
    a = BatchLoader(bundle.train, 32, "cpu", bundle.mean, bundle.std, shuffle=True, augment="flip-crop", seed=1)
    b = BatchLoader(bundle.train, 32, "cpu", bundle.mean, bundle.std, shuffle=True, augment="flip,crop", seed=1)
    for (xa, _), (xb, _) in zip(a, b):
        assert torch.equal(xa, xb)


@pytest.mark.parametrize("augment", ["resized-crop", "rotate", "color", "trivial", "flip,crop,resized-crop,rotate,color,trivial"])
def test_every_step_keeps_shape_and_type_and_changes_images_independently(augment):
    torch.manual_seed(0)
    x = torch.randint(0, 256, (1, 3, 32, 32), dtype=torch.uint8).expand(16, 3, 32, 32).contiguous()
    out = BatchAugmenter(augment, 3, (32, 32))(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == torch.uint8
    assert not torch.equal(out, x)
    assert len({bytes(o.flatten().numpy()) for o in out}) > 4  # per image, not one draw for the whole batch


def test_grayscale_colour_jitter_and_preview_is_seeded():
    image = torch.randint(0, 256, (1, 24, 24), dtype=torch.uint8)
    a = augment_preview(image, "color,rotate", n=3, seed=5)
    b = augment_preview(image, "color,rotate", n=3, seed=5)
    assert a.shape == (3, 1, 24, 24) and torch.equal(a, b)
