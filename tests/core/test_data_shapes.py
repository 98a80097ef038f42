"""The built-in shapes dataset: deterministic, balanced, cheap, described."""

from __future__ import annotations

import pytest
import torch

from cvstudio.core.data import DatasetBundle, available_classes, load_dataset, shapes
from cvstudio.core.data.shapes import CLASS_NAMES, generate_shapes
from cvstudio.core.errors import DataError
from cvstudio.core.specs import DataConfig


@pytest.fixture(scope="session")
def full_shapes():
    """The full default-size split (10,000 + 2,000), generated once per session."""
    return generate_shapes(0)


def test_full_size_shapes_dtypes_and_balance(full_shapes):
    ti, tl, vi, vl = full_shapes
    assert ti.shape == (10_000, 3, 32, 32) and vi.shape == (2_000, 3, 32, 32)
    assert ti.dtype == torch.uint8 and tl.dtype == torch.int64
    assert ti.is_contiguous() and vi.is_contiguous()
    k = len(CLASS_NAMES)
    assert k >= 6
    for labels, n in ((tl, 10_000), (vl, 2_000)):
        counts = torch.bincount(labels, minlength=k)
        assert int(counts.max() - counts.min()) <= 1
        assert int(counts.sum()) == n
    # labels are shuffled, not in blocks
    assert len(set(tl[:12].tolist())) > 2


def test_images_are_not_blank_and_use_the_range(full_shapes):
    ti = full_shapes[0][:500].float()
    per_image_std = ti.flatten(1).std(dim=1)
    assert float(per_image_std.min()) > 10  # every picture has a visible shape
    assert int(full_shapes[0].max()) > 240 and int(full_shapes[0].min()) < 15


def test_same_seed_same_tensors_other_seed_differs():
    a = generate_shapes(5, train_size=120, val_size=30)
    b = generate_shapes(5, train_size=120, val_size=30)
    c = generate_shapes(6, train_size=120, val_size=30)
    for x, y in zip(a, b):
        assert torch.equal(x, y)
    assert not torch.equal(a[0], c[0])


def test_validation_uses_its_own_stream():
    ti, _, vi, _ = generate_shapes(0, train_size=50, val_size=50)
    assert not torch.equal(ti, vi)
    # the training split does not depend on how many validation images are made
    ti2, tl2, _, _ = generate_shapes(0, train_size=50, val_size=7)
    assert torch.equal(ti, ti2)


def test_size_and_grayscale_options():
    ti, tl, vi, vl = generate_shapes(1, train_size=24, val_size=12, image_size=48, grayscale=True)
    assert ti.shape == (24, 1, 48, 48) and vi.shape == (12, 1, 48, 48)


def test_progress_is_reported_in_chunks():
    seen = []
    generate_shapes(0, train_size=2500, val_size=500, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (3000, 3000)
    assert 2 <= len(seen) <= 10


def test_load_dataset_shapes_bundle(monkeypatch):
    monkeypatch.setattr(shapes, "TRAIN_SIZE", 300)
    monkeypatch.setattr(shapes, "VAL_SIZE", 60)
    bundle = load_dataset(DataConfig(source="shapes", seed=3))
    assert isinstance(bundle, DatasetBundle)
    assert bundle.class_names == CLASS_NAMES
    assert bundle.description == f"Shapes (built-in): {len(CLASS_NAMES)} classes"
    assert bundle.input_shape == (3, 32, 32) and len(bundle.train) == 300 and len(bundle.val) == 60
    assert bundle.source == "shapes" and bundle.warnings == ()
    assert len(bundle.mean) == 3 and all(0.2 < m < 0.8 for m in bundle.mean)
    assert all(0.1 < s < 0.5 for s in bundle.std)
    expected = generate_shapes(3, 300, 60)
    assert torch.equal(bundle.train.images, expected[0]) and torch.equal(bundle.val.labels, expected[3])
    assert available_classes(DataConfig()) == CLASS_NAMES


def test_shapes_subset(monkeypatch):
    monkeypatch.setattr(shapes, "TRAIN_SIZE", 120)
    monkeypatch.setattr(shapes, "VAL_SIZE", 60)
    bundle = load_dataset(DataConfig(classes=("star", "circle")))
    assert bundle.class_names == ("star", "circle")
    assert bundle.description == "Shapes (built-in): star, circle"
    assert bundle.train.class_counts(2) == [20, 20]
    full = generate_shapes(0, 120, 60)
    star, circle = CLASS_NAMES.index("star"), CLASS_NAMES.index("circle")
    keep = (full[1] == star) | (full[1] == circle)
    assert torch.equal(bundle.train.images, full[0][keep])
    assert torch.equal(bundle.train.labels, (full[1][keep] == circle).long())


def test_unknown_class_is_refused_before_any_decoding(monkeypatch):
    def fail(*a, **k):
        raise AssertionError("decoded although the class list is wrong")

    monkeypatch.setattr(shapes, "generate_shapes", fail)
    with pytest.raises(DataError) as info:
        load_dataset(DataConfig(classes=("circle", "hexagon")))
    assert str(info.value) == f"Shapes (built-in) has no class 'hexagon'; available: {', '.join(CLASS_NAMES)}"
