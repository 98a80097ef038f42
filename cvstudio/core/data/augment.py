"""Training augmentation on whole uint8 batches, on the training device (``DataConfig.augment``).

``augment`` is a comma list of steps, applied in this order whatever the
order written: ``resized-crop`` (RandomResizedCrop back to the input size),
``crop`` (4 px zero padding, random crop), ``flip`` (horizontal),
``rotate`` (up to ±15°), ``color`` (brightness/contrast/saturation/hue
jitter; brightness/contrast for grayscale) and ``trivial``
(TrivialAugmentWide). ``none`` is the empty list and ``flip-crop`` the
cheatsheet's pair (``crop,flip``), drawn as before so old seeded runs repeat.

All are vectorized over the batch; all but ``trivial`` draw their random
numbers by the loader's generator (on a GPU, on the GPU: no host sync).
``resized-crop``, ``rotate`` and ``color`` compute torchvision's
RandomResizedCrop, RandomRotation and ColorJitter for the whole batch at
once, each image with its own crop, angle or factors and torchvision's
pixels (tests compare them image by image; the resized crops within one
level of torchvision's fixed-point uint8 resize), the four colour
adjustments taken in one random order per batch where torchvision draws
an order per image. A loop over the images had cost 3 ms (resized-crop),
5 ms (rotate) and 16 ms (color) a batch of 64 CIFAR-sized images on the
CPU, up to 3x the training step, and on a GPU ~20 tiny kernels an image.
``trivial`` is torchvision's TrivialAugmentWide: each image draws its
operation and magnitude from torch's global RNG, as torchvision's draws them
(which runs seed and resume state cover, as they do the order of
``color``'s adjustments), and each of the 14 operations runs once on the
images that drew it, with torchvision's pixels (a batch of 64 CIFAR-sized
images: 1.5-1.7 ms against 4.1-4.3 ms image by image, and ~270 tensor
operations against ~1,040, counted on the CPU; on a GPU each is a kernel or a copy).
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from cvstudio.core.errors import ConfigError
from cvstudio.core.specs import AUGMENT_STEPS, parse_augment

CROP_PADDING = 4  # pixels of zero padding before a random crop, as torchvision's RandomCrop(32, padding=4)
ROTATE_DEGREES = 15.0
RESIZED_CROP_SCALE = (0.35, 1.0)  # share of the image area a resized crop keeps
RESIZED_CROP_RATIO = (3 / 4, 4 / 3)  # its aspect ratios, torchvision's default
COLOR_JITTER = (0.4, 0.4, 0.4, 0.05)  # brightness, contrast, saturation, hue: as torchvision's ColorJitter takes them
CPU_SLICE_PIXELS = 1 << 15  # on the CPU the batched steps go through a batch in slices of about this many pixels


def random_crop(x: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Pad every image with zeros and cut a randomly placed crop of the original size from each."""
    b, c, h, w = x.shape
    padded = torch.nn.functional.pad(x, (padding, padding, padding, padding))
    dy = torch.randint(0, 2 * padding + 1, (b,), generator=generator, device=generator.device).to(x.device)
    dx = torch.randint(0, 2 * padding + 1, (b,), generator=generator, device=generator.device).to(x.device)
    # one gather along each padded image's flattened pixels, shared by its channels: on the CPU 2-5x faster
    # than indexing with (batch, channel, row, column) index tensors
    rows = dy.view(b, 1, 1) + torch.arange(h, device=x.device).view(1, h, 1)
    cols = dx.view(b, 1, 1) + torch.arange(w, device=x.device).view(1, 1, w)
    at = (rows * (w + 2 * padding) + cols).view(b, h * w)
    if padded.is_contiguous():
        return padded.view(b, c, -1).gather(2, at.view(b, 1, h * w).expand(b, c, h * w)).view(b, c, h, w)
    pixels = padded.permute(0, 2, 3, 1).reshape(b, -1, c)  # channels-last (a GPU's batches): a view, no copy
    return pixels.gather(1, at.view(b, h * w, 1).expand(b, h * w, c)).view(b, h, w, c).permute(0, 3, 1, 2)


def random_hflip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mirror a random half of the images left-right."""
    flip = (torch.rand(x.shape[0], generator=generator, device=generator.device) < 0.5).to(x.device)
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def resized_crop_boxes(n: int, height: int, width: int, generator: torch.Generator, device: torch.device,
                       scale: tuple[float, float] = RESIZED_CROP_SCALE, ratio: tuple[float, float] = RESIZED_CROP_RATIO
                       ) -> tuple[torch.Tensor, ...]:
    """(top, left, height, width) of a crop per image, drawn as torchvision's RandomResizedCrop draws one: the
    first of 10 tries whose area share (from ``scale``) and log-uniform aspect ratio (from ``ratio``) fit the
    image, else the central crop its fallback takes. All on ``device``, drawn by ``generator``."""
    u = torch.rand(n, 10, 4, generator=generator, device=generator.device).to(device)
    area = height * width * (scale[0] + (scale[1] - scale[0]) * u[..., 0])
    aspect = torch.exp(math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * u[..., 1])
    w, h = torch.sqrt(area * aspect).round(), torch.sqrt(area / aspect).round()
    fits = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    first = fits.to(torch.uint8).argmax(1, keepdim=True)  # the first try that fits (0 where none does)
    w, h, u_top, u_left = (t.gather(1, first)[:, 0] for t in (w, h, u[..., 2], u[..., 3]))
    top, left = (u_top * (height - h + 1)).floor(), (u_left * (width - w + 1)).floor()
    in_ratio = width / height  # the fallback: the largest central crop whose aspect ratio is within ``ratio``
    fw, fh = ((width, round(width / min(ratio))) if in_ratio < min(ratio) else
              (round(height * max(ratio)), height) if in_ratio > max(ratio) else (width, height))
    found = fits.any(1)
    return tuple(torch.where(found, t, fallback).long() for t, fallback in
                 ((top, (height - fh) // 2), (left, (width - fw) // 2), (h, fh), (w, fw)))


def random_resized_crop(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """torchvision's RandomResizedCrop back to the input size on a uint8 (B, C, H, W) batch at once: each image
    its own crop (:func:`resized_crop_boxes`), scaled up bilinearly with its edges repeated, as torchvision's crop
    then resize (a crop is never larger than the image, so antialiasing changes nothing)."""
    n, _, height, width = x.shape
    boxes = resized_crop_boxes(n, height, width, generator, x.device)
    if x.device.type == "cpu" and height * width > CPU_SLICE_PIXELS:
        # large photos on the CPU: torchvision's own uint8 resize, image by image, is ~2x a float grid_sample
        from torchvision.transforms.v2 import functional as F

        return torch.stack([F.resized_crop(image, *box, [height, width], antialias=True)
                            for image, box in zip(x, zip(*(b.tolist() for b in boxes)))])
    return _by_slices(x, _resized_crop, *boxes)


def _resized_crop(x: torch.Tensor, top: torch.Tensor, left: torch.Tensor, h: torch.Tensor, w: torch.Tensor
                  ) -> torch.Tensor:
    n, _, height, width = x.shape

    def source(start: torch.Tensor, size: torch.Tensor, out: int) -> torch.Tensor:
        """Where each output pixel is read, in grid_sample's -1..1 units of the whole image: half-pixel centres
        in the crop, clamped to it (its edge pixels repeat, as resizing the cropped image alone does)."""
        start, size = start.view(n, 1).float(), size.view(n, 1).float()
        at = (torch.arange(out, device=x.device).view(1, out) + 0.5) * (size / out) - 0.5
        return (start + torch.minimum(at.clamp_min(0.0), size - 1) + 0.5) * (2.0 / out) - 1.0

    gx, gy = source(left, w, width), source(top, h, height)
    grid = torch.stack((gx.view(n, 1, width).expand(n, height, width), gy.view(n, height, 1).expand(n, height, width)), -1)
    out = torch.nn.functional.grid_sample(x.float(), grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out.round_().clamp_(0, 255).to(torch.uint8)


def random_rotation(x: torch.Tensor, generator: torch.Generator, degrees: float = ROTATE_DEGREES) -> torch.Tensor:
    """torchvision's RandomRotation on a uint8 (B, C, H, W) batch at once, each image by its own angle from
    [-degrees, degrees] about its centre: the same sampling grid, nearest pixel, zeros outside (what
    torchvision's ``rotate`` computes for one image, done for the batch in one ``grid_sample``)."""
    return _by_slices(x, _rotate, _uniform(x.shape[0], -degrees, degrees, generator, x.device))


def _rotate(x: torch.Tensor, degrees: torch.Tensor) -> torch.Tensor:
    n, _, h, w = x.shape
    turn = torch.deg2rad(degrees.view(n, 1, 1))
    cos, sin = torch.cos(turn), torch.sin(turn)
    # each output pixel, centred coordinates -> where it comes from, in grid_sample's -1..1 units
    xs = torch.linspace((1.0 - w) * 0.5, (w - 1.0) * 0.5, w, device=x.device).view(1, 1, w)
    ys = torch.linspace((1.0 - h) * 0.5, (h - 1.0) * 0.5, h, device=x.device).view(1, h, 1)
    grid = torch.stack(((xs * cos - ys * sin) / (0.5 * w), (xs * sin + ys * cos) / (0.5 * h)), dim=-1)
    out = torch.nn.functional.grid_sample(x.float(), grid, mode="nearest", padding_mode="zeros", align_corners=False)
    return out.round_().to(torch.uint8)


def _by_slices(x: torch.Tensor, fn: Callable[..., torch.Tensor], *per_image: torch.Tensor) -> torch.Tensor:
    """``fn(x, *per_image)`` for the whole batch on a GPU. On the CPU a batch of large images would make each of
    ``fn``'s passes go through memory: there it goes in slices of about CPU_SLICE_PIXELS pixels, which stay in
    the cache (``per_image`` tensors are sliced along)."""
    if x.device.type != "cpu":
        return fn(x, *per_image)
    step = max(1, CPU_SLICE_PIXELS // (x.shape[2] * x.shape[3]))
    return torch.cat([fn(x[a : a + step], *(p[a : a + step] for p in per_image)) for a in range(0, x.shape[0], step)])


def _uniform(n: int, low: float, high: float, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """``n`` factors drawn uniformly from [low, high], shaped to scale (n, C, H, W) images."""
    u = torch.rand(n, generator=generator, device=generator.device).to(device)
    return (low + (high - low) * u).view(n, 1, 1, 1)


def _gray(x: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) float luma of uint8 images, floored as torchvision's colour adjustments take it (its uint8
    grayscale truncates the same non-negative values)."""
    from torchvision.transforms.v2.functional import rgb_to_grayscale

    return rgb_to_grayscale(x).float()


def _blend(x: torch.Tensor, other: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """x * factor + other * (1 - factor), clamped and truncated back to uint8 (torchvision's ``_blend``)."""
    return (x * factor).add_(other * (1.0 - factor)).clamp_(0, 255).to(torch.uint8)


def _shift_hue(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Rotate the hue of uint8 RGB images by ``shift`` turns (B,1,1,1), as torchvision's ``adjust_hue`` does
    through HSV, in a few passes over the batch: in 0..255 units, with v*s = max - min."""
    rgb = x.float()
    r, g, b = x.unbind(1)  # the channels' max and min elementwise, in uint8: ~8x aminmax over a 3-long dim
    top, bottom = torch.maximum(torch.maximum(r, g), b).float(), torch.minimum(torch.minimum(r, g), b).float()
    delta = top - bottom
    span = delta.clamp_min(1.0)  # uint8 colours differ by 1 at least; a grey's hue does not matter (delta 0)
    r, g, b = rgb.unbind(1)
    # hue in sixths of a turn: (g-b)/delta where red is largest, 2+(b-r)/delta for green, 4+(r-g)/delta for blue
    sixths = torch.where(top == r, g - b, torch.where(top == g, (b - r).add_(span, alpha=2), (r - g).add_(span, alpha=4)))
    sixths.div_(span).add_(6.0 * shift[:, 0])
    # back to RGB without a table of sectors: channel n = v - (v*s) * clamp(min(k, 4 - k), 0, 1),
    # k = (n + sixths) mod 6, with n = 5, 3, 1 for R, G, B
    k = (sixths.unsqueeze(1) + torch.arange(5.0, 0.0, -2.0, device=x.device).view(1, 3, 1, 1)).remainder_(6.0)
    out = top.unsqueeze(1) - delta.unsqueeze(1) * torch.minimum(k, 4.0 - k).clamp_(0.0, 1.0)
    return out.mul_((255.0 + 1.0 - 1e-3) / 255.0).to(torch.uint8)  # torchvision's float -> uint8 scaling


def random_color_jitter(x: torch.Tensor, generator: torch.Generator, jitter: tuple[float, float, float, float] = COLOR_JITTER
                        ) -> torch.Tensor:
    """torchvision's ColorJitter on a uint8 (B, C, H, W) batch at once, each image with its own factors
    (brightness, contrast and saturation from [max(0, 1 - j), 1 + j], hue from [-j, j]; grayscale images
    get brightness and contrast). The adjustments run in one random order per batch."""
    n, c = x.shape[:2]
    brightness, contrast, saturation, hue = jitter
    factors = {"brightness": _uniform(n, max(0.0, 1 - brightness), 1 + brightness, generator, x.device),
               "contrast": _uniform(n, max(0.0, 1 - contrast), 1 + contrast, generator, x.device)}
    if c == 3:
        factors["saturation"] = _uniform(n, max(0.0, 1 - saturation), 1 + saturation, generator, x.device)
        factors["hue"] = _uniform(n, -hue, hue, generator, x.device)
    names = list(factors)
    order = torch.randperm(len(names)).tolist()  # torch's global RNG: a decision on the host, no sync
    return _by_slices(x, lambda part, *f: _jitter(part, [(names[i], f[i]) for i in order]), *factors.values())


def _jitter(x: torch.Tensor, steps: list[tuple[str, torch.Tensor]]) -> torch.Tensor:
    for step, f in steps:
        if step == "brightness":
            x = (x * f).clamp_(0, 255).to(torch.uint8)
        elif step == "contrast":
            x = _blend(x, _gray(x).mean(dim=(1, 2, 3), keepdim=True), f)
        elif step == "saturation":
            x = _blend(x, _gray(x), f)
        else:
            x = _shift_hue(x, f)
    return x


TRIVIAL_BINS = 31  # TrivialAugmentWide's magnitude bins (torchvision's default)
_AFFINE_OPS = frozenset(("ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate"))


def random_trivial_augment(x: torch.Tensor) -> torch.Tensor:
    """torchvision's TrivialAugmentWide on a uint8 (B, C, H, W) batch: each image gets its own operation and
    magnitude, drawn as torchvision draws them from torch's global RNG (on the host: no sync), and each
    operation runs once, on the images that drew it, with torchvision's pixels (tests compare each image)."""
    from torchvision.transforms import v2

    space = v2.TrivialAugmentWide._AUGMENTATION_SPACE  # the operations and their magnitudes, torchvision's own
    names = list(space)
    n, _, h, w = x.shape
    ops = torch.randint(len(names), (n,)).tolist()
    bins = torch.randint(TRIVIAL_BINS, (n,)).tolist()
    negative = (torch.rand(n) <= 0.5).tolist()
    chosen: dict[str, tuple[list[int], list[float]]] = {}
    tables: dict[str, torch.Tensor | None] = {}
    for i, (op, b, minus) in enumerate(zip(ops, bins, negative)):
        name = names[op]
        if name not in tables:
            tables[name] = space[name][0](TRIVIAL_BINS, h, w)
        table = tables[name]
        magnitude = 0.0 if table is None else float(table[b])
        if space[name][1] and minus:
            magnitude = -magnitude
        images, magnitudes = chosen.setdefault(name, ([], []))
        images.append(i)
        magnitudes.append(magnitude)
    out = x.clone()
    # on the CPU, large images go a few at a time (see _by_slices)
    step = len(ops) if x.device.type != "cpu" else max(1, CPU_SLICE_PIXELS // (h * w))
    for name, (images, magnitudes) in chosen.items():
        if name == "Identity":
            continue
        for a in range(0, len(images), step):
            index = _on_device(images[a : a + step], torch.int64, x.device)
            out.index_copy_(0, index, trivial_op(name, x.index_select(0, index), magnitudes[a : a + step]))
    return out


def trivial_op(name: str, x: torch.Tensor, magnitudes: list[float]) -> torch.Tensor:
    """TrivialAugmentWide's operation ``name`` on each uint8 image of ``x`` with its own magnitude: what
    torchvision's ``_apply_image_or_video_transform`` gives image by image (nearest pixel, zeros outside)."""
    from torchvision.transforms.v2 import functional as F

    n, c, h, w = x.shape

    def per_image(values: list[float]) -> torch.Tensor:  # Python floats, made float32 as torchvision's scalars are
        return _on_device(values, torch.float32, x.device).view(n, 1, 1, 1)

    if name in _AFFINE_OPS:
        return _affine(x, [_trivial_matrix(name, m, h, w) for m in magnitudes])
    if name == "Brightness":
        return (x * per_image([1.0 + m for m in magnitudes])).clamp_(0, 255).to(torch.uint8)
    ratios = [1.0 + m for m in magnitudes]  # the factor torchvision's colour operations take
    if name == "Sharpness":
        return _sharpen(x, per_image([1.0 - r for r in ratios]))
    if name == "Color" and c != 3:
        return x
    if name in ("Color", "Contrast"):
        gray = _gray(x) if c == 3 else x.float()
        other = gray if name == "Color" else gray.mean(dim=(1, 2, 3), keepdim=True)
        # torchvision's _blend: x * ratio, then + other * (1 - ratio) as one fused multiply-add
        return _fused_add(x * per_image(ratios), other, per_image([1.0 - r for r in ratios])).clamp_(0, 255).to(
            torch.uint8)
    if name == "Posterize":
        masks = [((1 << int(m)) - 1) << (8 - int(m)) if int(m) < 8 else 255 for m in magnitudes]
        return x & _on_device(masks, torch.uint8, x.device).view(n, 1, 1, 1)
    if name == "Solarize":
        return torch.where(x >= per_image([255.0 * m for m in magnitudes]), x.bitwise_not(), x)
    if name == "AutoContrast":
        return F.autocontrast(x)  # per image and channel already
    if name == "Equalize":
        return F.equalize(x)
    raise ValueError(f"unknown TrivialAugmentWide operation {name!r}")


def _on_device(values: list, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Numbers made on the host as a tensor on ``device``. To a GPU through pinned memory without waiting:
    a copy from ordinary host memory would first wait for the GPU to finish its queued work (a host sync)."""
    t = torch.tensor(values, dtype=dtype)
    if device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


def _trivial_matrix(name: str, magnitude: float, height: int, width: int) -> list[float]:
    """The inverse affine matrix torchvision's ``affine``/``rotate`` compute for this operation and magnitude."""
    from torchvision.transforms.v2.functional._geometry import _get_inverse_affine_matrix

    if name == "Rotate":
        return _get_inverse_affine_matrix([0.0, 0.0], -(magnitude % 360), [0.0, 0.0], 1.0, [0.0, 0.0])
    if name in ("ShearX", "ShearY"):
        shear = math.degrees(math.atan(magnitude))
        corner = [-width * 0.5, -height * 0.5]  # center=[0, 0]: the top-left corner
        return _get_inverse_affine_matrix(corner, 0.0, [0.0, 0.0], 1.0, [shear, 0.0] if name == "ShearX" else [0.0, shear])
    shift = [float(int(magnitude)), 0.0] if name == "TranslateX" else [0.0, float(int(magnitude))]
    return _get_inverse_affine_matrix([0.0, 0.0], 0.0, shift, 1.0, [0.0, 0.0])


def _affine(x: torch.Tensor, matrices: list[list[float]]) -> torch.Tensor:
    """Each uint8 image through its own inverse affine matrix: torchvision's sampling grid (``_affine_grid``)
    for all of them in one ``bmm``, then one ``grid_sample`` (nearest pixel, zeros outside)."""
    n, _, h, w = x.shape
    theta = _on_device(matrices, torch.float32, x.device).view(n, 2, 3)
    base = torch.empty(1, h, w, 3, device=x.device)
    base[..., 0].copy_(torch.linspace((1.0 - w) * 0.5, (w - 1.0) * 0.5, steps=w, device=x.device))
    base[..., 1].copy_(torch.linspace((1.0 - h) * 0.5, (h - 1.0) * 0.5, steps=h, device=x.device).unsqueeze_(-1))
    base[..., 2].fill_(1)
    scaled = theta.transpose(1, 2).div_(_on_device([0.5 * w, 0.5 * h], torch.float32, x.device))
    grid = base.view(1, h * w, 3).expand(n, h * w, 3).bmm(scaled).view(n, h, w, 2)
    out = torch.nn.functional.grid_sample(x.float(), grid, mode="nearest", padding_mode="zeros", align_corners=False)
    return out.round_().to(torch.uint8)


def _sharpen(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """torchvision's ``adjust_sharpness`` with a factor per image (``weight`` = 1 - factor): the inner pixels
    move towards (or away from) a 3x3 blur of the image, the border stays."""
    n, c, h, w = x.shape
    if h <= 2 or w <= 2:
        return x
    a, b = 1.0 / 13.0, 5.0 / 13.0
    kernel = _on_device([[a, a, a], [a, b, a], [a, a, a]], torch.float32, x.device).expand(c, 1, 3, 3)
    out = x.to(torch.float32, copy=True)
    blurred = torch.nn.functional.conv2d(out, kernel, groups=c).round_()
    inner = out[..., 1:-1, 1:-1]
    inner.copy_(_fused_add(inner, blurred.sub_(inner), weight))
    return out.clamp_(0, 255).to(torch.uint8)


def _fused_add(a: torch.Tensor, b: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """float32 ``a + weight * b`` rounded once, as ``a.add_(b, alpha=weight)``'s fused multiply-add rounds it
    (where torchvision passes one number, these are per image): float64 holds the product exactly."""
    return a.double().add_(b.double() * weight.double()).float()


class BatchAugmenter:
    """Applies an ``augment`` list to uint8 (B,C,H,W) batches (``channels`` and ``size`` are kept for callers)."""

    def __init__(self, augment: str, channels: int, size: tuple[int, int]):
        self.steps = parse_augment(augment)

    @property
    def active(self) -> bool:
        return bool(self.steps)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        steps = self.steps
        if "resized-crop" in steps:
            x = random_resized_crop(x, generator)
        if "crop" in steps:
            x = random_crop(x, CROP_PADDING, generator)
        if "flip" in steps:
            x = random_hflip(x, generator)
        if "rotate" in steps:
            x = random_rotation(x, generator)
        if "color" in steps:
            x = random_color_jitter(x, generator)
        if "trivial" in steps:
            x = random_trivial_augment(x)
        return x


def augment_preview(image: torch.Tensor, augment: str, n: int = 4, seed: int = 0) -> torch.Tensor:
    """``n`` augmented versions of one uint8 (C,H,W) image, as (n,C,H,W) uint8 (the Data page's preview)."""
    if image.ndim != 3 or image.dtype != torch.uint8:
        raise ConfigError("augmentation preview needs one uint8 (channels, height, width) image")
    c, h, w = image.shape
    augmenter = BatchAugmenter(augment, c, (h, w))
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return augmenter(image.unsqueeze(0).expand(n, c, h, w).contiguous(), generator)


__all__ = ["AUGMENT_STEPS", "BatchAugmenter", "COLOR_JITTER", "CROP_PADDING", "augment_preview", "parse_augment",
           "random_color_jitter", "random_crop", "random_hflip", "random_rotation"]
