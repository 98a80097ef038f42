"""The built-in "shapes" dataset: small pictures of geometric shapes, made in code.

Every image shows one shape (its class) at a random position, size, rotation
and colour, on a noisy background with a colour gradient and a few small
distractor dots. The class is never given away by colour or position, so a
network has to recognise the outline wherever it is: a small convolutional
network learns it in a few epochs while a multilayer perceptron, which has to
learn every position separately, lags clearly behind.

Generation is vectorized: each shape is a signed distance function evaluated
on the pixel grid for a whole batch of images at once and turned into an
anti-aliased coverage mask. It is deterministic for a given seed; the
validation split uses a separate random stream from the training split.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

# Bump when the pictures change, so cached copies are rebuilt.
GENERATOR_VERSION = 1

CLASS_NAMES: tuple[str, ...] = ("circle", "square", "triangle", "cross", "ring", "star")
TRAIN_SIZE = 10_000
VAL_SIZE = 2_000
DEFAULT_SIZE = 32  # pixels

_P = {"dark": 0.5, "noise": 10.0, "dots": 0.5, "rmin": 0.2, "rmax": 0.36}
_CHUNK = 1000  # images rendered per vectorized pass

# Relative size of each class so that the shapes cover similar areas.
_SCALE = {"circle": 0.8, "square": 1.0, "triangle": 1.15, "cross": 1.0, "ring": 0.95, "star": 1.2}

_STREAM = {"train": 0x5EED_0001, "val": 0x5EED_0002}  # separate random streams per split


def generate_shapes(
    seed: int = 0,
    train_size: int = TRAIN_SIZE,
    val_size: int = VAL_SIZE,
    image_size: int = DEFAULT_SIZE,
    grayscale: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return ``(train_images, train_labels, val_images, val_labels)``.

    Images are uint8 (N, 3, S, S) (or (N, 1, S, S) when ``grayscale``),
    labels int64 in 0..5, classes balanced within one image per class.
    ``progress(done, total)`` is called after each chunk of images.
    """
    total = train_size + val_size
    done = 0

    def report(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, total)

    train = _generate_split(seed, "train", train_size, image_size, grayscale, report)
    val = _generate_split(seed, "val", val_size, image_size, grayscale, report)
    return train[0], train[1], val[0], val[1]


def _generate_split(
    seed: int, split: str, n: int, size: int, grayscale: bool, report: Callable[[int], None]
) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed((int(seed) * 1_000_003 + _STREAM[split]) & 0x7FFF_FFFF_FFFF_FFFF)
    k = len(CLASS_NAMES)
    labels = (torch.arange(n) % k)[torch.randperm(n, generator=gen)].to(torch.int64)
    images = torch.empty((n, 1 if grayscale else 3, size, size), dtype=torch.uint8)
    for start in range(0, n, _CHUNK):
        stop = min(n, start + _CHUNK)
        rgb = _render(labels[start:stop], size, gen)
        if grayscale:
            weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
            rgb = (rgb * weights).sum(dim=1, keepdim=True)
        images[start:stop] = rgb.round_().clamp_(0, 255).to(torch.uint8)
        report(stop - start)
    return images, labels


def _render(labels: torch.Tensor, size: int, gen: torch.Generator) -> torch.Tensor:
    """Float (B, 3, S, S) pictures in 0..255 for the given class labels."""
    b = labels.shape[0]
    s = float(size)

    def uniform(lo: float, hi: float, *shape: int) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand((b, *shape), generator=gen)

    # --- parameters, all drawn up front in a fixed order (determinism) ---
    radius = uniform(_P["rmin"] * s, _P["rmax"] * s)  # circumradius before the class scale
    scale = torch.tensor([_SCALE[name] for name in CLASS_NAMES])[labels]
    radius = radius * scale
    margin = radius * 0.9
    cx = margin + (s - 2 * margin) * torch.rand(b, generator=gen)
    cy = margin + (s - 2 * margin) * torch.rand(b, generator=gen)
    angle = uniform(0.0, 2 * math.pi)
    dark_background = torch.rand(b, generator=gen) < _P["dark"]
    low = uniform(0.0, 100.0, 3)
    high = uniform(150.0, 255.0, 3)
    bg_colour = torch.where(dark_background[:, None], low, high)
    fg_colour = torch.where(dark_background[:, None], high, low)
    grad_angle = uniform(0.0, 2 * math.pi)
    grad_amp = uniform(0.0, 40.0, 3)  # 0..255 units across the image
    n_dots = 4
    dot_x = uniform(0.0, s, n_dots)
    dot_y = uniform(0.0, s, n_dots)
    dot_r = uniform(0.6, 1.6, n_dots) * (s / 32.0)
    dot_on = torch.rand((b, n_dots), generator=gen) < _P["dots"]
    dot_colour = uniform(0.0, 255.0, n_dots, 3)
    noise = torch.randn((b, 3, size, size), generator=gen) * _P["noise"]

    # --- pixel grid (pixel centres), shared by the whole batch ---
    coords = torch.arange(size, dtype=torch.float32) + 0.5
    gy, gx = torch.meshgrid(coords, coords, indexing="ij")

    # background: base colour + linear gradient + noise
    u = (gx[None] - s / 2) * torch.cos(grad_angle)[:, None, None] + (gy[None] - s / 2) * torch.sin(grad_angle)[
        :, None, None
    ]
    u = u / s  # -0.7..0.7
    img = bg_colour[:, :, None, None] + grad_amp[:, :, None, None] * u[:, None] + noise

    # distractor dots (small, so they never look like a shape)
    for j in range(n_dots):
        d = torch.hypot(gx[None] - dot_x[:, j, None, None], gy[None] - dot_y[:, j, None, None]) - dot_r[:, j, None, None]
        cover = (0.5 - d).clamp_(0.0, 1.0) * dot_on[:, j, None, None]
        img = img + cover[:, None] * (dot_colour[:, j, :, None, None] - img)

    # the shape: coordinates relative to its centre, rotated into its frame
    dx = gx[None] - cx[:, None, None]
    dy = gy[None] - cy[:, None, None]
    cos_a = torch.cos(angle)[:, None, None]
    sin_a = torch.sin(angle)[:, None, None]
    px = cos_a * dx + sin_a * dy
    py = -sin_a * dx + cos_a * dy
    sdf = torch.empty_like(px)
    for k, name in enumerate(CLASS_NAMES):
        idx = (labels == k).nonzero().squeeze(1)
        if idx.numel():
            sdf[idx] = _SDF[name](px[idx], py[idx], radius[idx][:, None, None])
    cover = (0.5 - sdf).clamp_(0.0, 1.0)
    img = img + cover[:, None] * (fg_colour[:, :, None, None] - img)
    return img


# --- signed distance functions (pixels; negative inside) ---


def _sd_circle(px: torch.Tensor, py: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    return torch.hypot(px, py) - r


def _sd_ring(px: torch.Tensor, py: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    thickness = (0.16 * r).clamp(min=1.2)
    return (torch.hypot(px, py) - (r - thickness)).abs() - thickness


def _sd_box(px: torch.Tensor, py: torch.Tensor, hx: torch.Tensor, hy: torch.Tensor) -> torch.Tensor:
    qx = px.abs() - hx
    qy = py.abs() - hy
    outside = torch.hypot(qx.clamp(min=0), qy.clamp(min=0))
    inside = torch.maximum(qx, qy).clamp(max=0)
    return outside + inside


def _sd_cross(px: torch.Tensor, py: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    arm = 0.95 * r
    half_width = (0.26 * r).clamp(min=1.0)
    return torch.minimum(_sd_box(px, py, arm, half_width), _sd_box(px, py, half_width, arm))


def _sd_star(px: torch.Tensor, py: torch.Tensor, r: torch.Tensor, n: int, m: float) -> torch.Tensor:
    """Regular star with ``n`` points and circumradius ``r``; ``m`` = 2 gives a polygon.

    After Inigo Quilez's ``sdStar`` (exact distance for star polygons).
    """
    an = math.pi / n
    en = math.pi / m
    acx, acy = math.cos(an), math.sin(an)
    ecx, ecy = math.cos(en), math.sin(en)
    bn = torch.remainder(torch.atan2(px, py), 2 * an) - an
    length = torch.hypot(px, py)
    qx = length * torch.cos(bn) - r * acx
    qy = length * torch.sin(bn).abs() - r * acy
    t = torch.minimum((-(qx * ecx + qy * ecy)).clamp(min=0), r * (acy / ecy))
    qx = qx + ecx * t
    qy = qy + ecy * t
    return torch.hypot(qx, qy) * torch.sign(qx)


_SDF: dict[str, Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "circle": _sd_circle,
    "square": lambda px, py, r: _sd_star(px, py, r, 4, 2.0),
    "triangle": lambda px, py, r: _sd_star(px, py, r, 3, 2.0),
    "cross": _sd_cross,
    "ring": _sd_ring,
    "star": lambda px, py, r: _sd_star(px, py, r, 5, 3.0),
}
