import os

# Set before anything imports Qt or cvstudio.core.paths.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory, monkeypatch):
    """Every test gets its own cache/data/runs/logs folders, never the user's."""
    home = tmp_path_factory.mktemp("cvstudio_home")
    monkeypatch.setenv("CVSTUDIO_HOME", str(home))
    yield home


@pytest.fixture(scope="session")
def shared_cache_home(tmp_path_factory):
    """A home shared across tests, for tests that only read a cached dataset."""
    return tmp_path_factory.mktemp("shared_home")


def make_tiny_bundle(n_train=256, n_val=64, classes=2, seed=0, size=16):
    """A small learnable dataset: class k has a bright square in quadrant k on noise."""
    import torch

    from cvstudio.core.data.bundle import DatasetBundle, ImageSet

    g = torch.Generator().manual_seed(seed)

    def split(n):
        labels = torch.arange(n) % classes
        images = torch.randint(0, 100, (n, 3, size, size), generator=g, dtype=torch.uint8)
        half = size // 2
        for k in range(classes):
            r, c = divmod(k % 4, 2)
            images[labels == k, :, r * half : (r + 1) * half, c * half : (c + 1) * half] = 230
        return ImageSet(images, labels)

    return DatasetBundle(
        split(n_train), split(n_val), tuple(f"class{k}" for k in range(classes)),
        (0.4,) * 3, (0.3,) * 3, "tiny test data", "tiny",
    )


@pytest.fixture
def tiny_bundle():
    return make_tiny_bundle()


def trivial_augment_by_torchvision(x, seed: int) -> list:
    """Each image of the uint8 batch ``x`` through torchvision's TrivialAugmentWide with the operation, bin and
    sign that ``augment.random_trivial_augment`` draws after ``torch.manual_seed(seed)``: [(expected, name, m)]."""
    import torch
    from torchvision.transforms import v2

    reference = v2.TrivialAugmentWide()
    names = list(reference._AUGMENTATION_SPACE)
    n, _, h, w = x.shape
    torch.manual_seed(seed)
    ops, bins, negative = torch.randint(len(names), (n,)), torch.randint(31, (n,)), torch.rand(n) <= 0.5
    out = []
    for i in range(n):
        name = names[ops[i]]
        table_of, signed = reference._AUGMENTATION_SPACE[name]
        table = table_of(31, h, w)
        m = 0.0 if table is None else float(table[bins[i]]) * (-1 if signed and negative[i] else 1)
        out.append((reference._apply_image_or_video_transform(x[i], name, m, interpolation=v2.InterpolationMode.NEAREST,
                                                              fill=reference._fill), name, m))
    return out
