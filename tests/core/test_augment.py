"""Augmentation lists (issue 13): parsing, whole-batch application, aliases and the preview."""

import pytest
import torch

from cvstudio.core.data.augment import BatchAugmenter, augment_preview
from cvstudio.core.data.batches import BatchLoader
from cvstudio.core.errors import ConfigError
from cvstudio.core.specs import DataConfig, parse_augment
from tests.conftest import make_tiny_bundle, trivial_augment_by_torchvision


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


@pytest.mark.parametrize("channels, size", [(3, 9), (3, 40), (1, 12)])
def test_batched_colour_jitter_gives_torchvision_colour_jitter_per_image(monkeypatch, channels, size):
    """Each image gets torchvision's own adjustments with its own factors, in the batch's order; also when the
    CPU goes through the batch in slices (40x40: 20 images a slice here)."""
    from torchvision.transforms.v2 import functional as F

    import cvstudio.core.data.augment as augment

    monkeypatch.setattr(augment, "CPU_SLICE_PIXELS", 20 * 40 * 40)
    g = torch.Generator().manual_seed(3)
    x = torch.randint(0, 256, (48, channels, size, size), dtype=torch.uint8, generator=g)
    x[0] = 128  # a grey image: no hue
    x[1, :, :2] = 255  # saturated corners
    torch.manual_seed(11)
    out = augment.random_color_jitter(x, torch.Generator().manual_seed(5))

    # the same draws again: factors from the generator in a fixed order, then the order from torch's RNG
    g = torch.Generator().manual_seed(5)
    lows = {"brightness": 0.6, "contrast": 0.6, "saturation": 0.6, "hue": -0.05}
    highs = {"brightness": 1.4, "contrast": 1.4, "saturation": 1.4, "hue": 0.05}
    names = ["brightness", "contrast"] + (["saturation", "hue"] if channels == 3 else [])
    factors = {k: lows[k] + (highs[k] - lows[k]) * torch.rand(48, generator=g) for k in names}
    torch.manual_seed(11)
    order = [names[i] for i in torch.randperm(len(names)).tolist()]
    adjust = {"brightness": F.adjust_brightness, "contrast": F.adjust_contrast,
              "saturation": F.adjust_saturation, "hue": F.adjust_hue}
    for i in range(48):
        expected = x[i]
        for name in order:
            expected = adjust[name](expected, float(factors[name][i]))
        # float rounding may move a value across an integer before truncation: one level at most
        assert (out[i].int() - expected.int()).abs().max() <= 1, (i, order)
    assert out.dtype == torch.uint8 and out.shape == x.shape


@pytest.mark.parametrize("channels, height, width", [(3, 32, 32), (1, 28, 28), (3, 17, 24)])
def test_batched_rotation_gives_torchvision_rotate_per_image(monkeypatch, channels, height, width):
    """Each image turned by its own angle exactly as torchvision's ``rotate`` turns it, the CPU's slices included."""
    from torchvision.transforms.v2 import functional as F

    import cvstudio.core.data.augment as augment

    monkeypatch.setattr(augment, "CPU_SLICE_PIXELS", 5 * height * width)
    x = torch.randint(0, 256, (16, channels, height, width), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    out = augment.random_rotation(x, torch.Generator().manual_seed(4))
    angles = -augment.ROTATE_DEGREES + 2 * augment.ROTATE_DEGREES * torch.rand(16, generator=torch.Generator().manual_seed(4))
    for i in range(16):
        assert torch.equal(out[i], F.rotate(x[i], float(angles[i]))), i
    assert len({float(a) for a in angles}) == 16  # each image its own angle


@pytest.mark.parametrize("channels, height, width", [(3, 32, 32), (1, 28, 28), (3, 40, 24)])
def test_batched_resized_crops_give_torchvision_resized_crop_per_image(monkeypatch, channels, height, width):
    """Each image's crop scaled back as torchvision's ``resized_crop`` scales it (within one level: its uint8
    resize works in fixed point), the CPU's slices included; the crops drawn as RandomResizedCrop draws them."""
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms.v2 import functional as F

    import cvstudio.core.data.augment as augment

    monkeypatch.setattr(augment, "CPU_SLICE_PIXELS", 5 * height * width)
    x = torch.randint(0, 256, (64, channels, height, width), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    out = augment.random_resized_crop(x, torch.Generator().manual_seed(6))
    top, left, h, w = augment.resized_crop_boxes(64, height, width, torch.Generator().manual_seed(6), x.device)
    assert ((top >= 0) & (left >= 0) & (top + h <= height) & (left + w <= width)).all()
    share = (h * w).double() / (height * width)
    assert share.min() >= 0.3 and share.max() <= 1.0 and len(set(share.tolist())) > 20  # each image its own crop
    assert ((w / h) >= 0.7).all() and ((w / h) <= 1.4).all()  # 3:4 .. 4:3, give or take rounding
    for i in range(64):
        expected = F.resized_crop(x[i], int(top[i]), int(left[i]), int(h[i]), int(w[i]), [height, width],
                                  InterpolationMode.BILINEAR, antialias=True)
        assert (out[i].int() - expected.int()).abs().max() <= 1, i


def test_a_shape_no_try_fits_takes_torchvision_s_central_crop():
    import cvstudio.core.data.augment as augment

    # 4x100: a crop of 35 % of the area at a ratio near 1 never fits 4 rows; the fallback keeps ratio 4:3
    top, left, h, w = augment.resized_crop_boxes(8, 4, 100, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert torch.equal(h, torch.full((8,), 4)) and torch.equal(w, torch.full((8,), 5))
    assert torch.equal(top, torch.zeros(8, dtype=torch.long)) and torch.equal(left, torch.full((8,), 47))


def test_large_photos_on_the_cpu_are_cropped_by_torchvision_itself():
    from torchvision.transforms.v2 import functional as F

    import cvstudio.core.data.augment as augment

    x = torch.randint(0, 256, (6, 3, 200, 200), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    assert 200 * 200 > augment.CPU_SLICE_PIXELS
    out = augment.random_resized_crop(x, torch.Generator().manual_seed(1))
    boxes = augment.resized_crop_boxes(6, 200, 200, torch.Generator().manual_seed(1), x.device)
    for i, box in enumerate(zip(*(b.tolist() for b in boxes))):
        assert torch.equal(out[i], F.resized_crop(x[i], *box, [200, 200], antialias=True))


def test_crops_of_channels_last_batches_are_the_same_crops_and_stay_channels_last():
    from cvstudio.core.data.augment import random_crop

    x = torch.randint(0, 256, (16, 3, 12, 10), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    plain = random_crop(x, 4, torch.Generator().manual_seed(9))
    cl = random_crop(x.contiguous(memory_format=torch.channels_last), 4, torch.Generator().manual_seed(9))
    assert torch.equal(plain, cl) and cl.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("channels, height, width", [(3, 32, 32), (1, 28, 28), (3, 24, 40)])
def test_each_trivial_augment_operation_gives_torchvision_s_pixels_at_every_magnitude(channels, height, width):
    """TrivialAugmentWide's operations on a batch, each image with its own magnitude (all 31 bins, both signs):
    exactly what torchvision's TrivialAugmentWide makes of each image alone."""
    from torchvision.transforms import v2

    from cvstudio.core.data.augment import TRIVIAL_BINS, trivial_op

    reference = v2.TrivialAugmentWide()
    g = torch.Generator().manual_seed(2)
    for name, (table_of, signed) in reference._AUGMENTATION_SPACE.items():
        table = table_of(TRIVIAL_BINS, height, width)
        magnitudes = [0.0] if table is None else [float(m) for m in table]
        magnitudes += [-m for m in magnitudes] if signed else []
        x = torch.randint(0, 256, (len(magnitudes), channels, height, width), dtype=torch.uint8, generator=g)
        x[::3] = x[::3] // 4 + 60  # low-contrast images, which autocontrast and equalize stretch
        out = x if name == "Identity" else trivial_op(name, x, magnitudes)
        assert out.shape == x.shape and out.dtype == torch.uint8
        for i, m in enumerate(magnitudes):
            expected = reference._apply_image_or_video_transform(x[i], name, m, interpolation=v2.InterpolationMode.NEAREST,
                                                                 fill=reference._fill)
            assert torch.equal(out[i], expected), (name, m)


@pytest.mark.parametrize("slice_images", [64, 5])
def test_batched_trivial_augment_draws_per_image_and_matches_torchvision(monkeypatch, slice_images):
    """Each image its own operation, bin and sign from torch's global RNG (as torchvision draws them), run in
    groups by operation (in slices on the CPU) and put back in place."""
    import cvstudio.core.data.augment as augment

    monkeypatch.setattr(augment, "CPU_SLICE_PIXELS", slice_images * 32 * 32)
    x = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(4))
    torch.manual_seed(9)
    out = augment.random_trivial_augment(x)
    expected = trivial_augment_by_torchvision(x, seed=9)
    for i, (image, name, m) in enumerate(expected):
        assert torch.equal(out[i], image), (i, name, m)
    assert len({name for _, name, _ in expected}) >= 10  # most operations appear in a batch of 64
