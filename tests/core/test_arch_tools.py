"""Inspect, saliency, export and classification for torchvision architectures (issue 13), at small input sizes."""

import numpy as np
import pytest
import torch
from PIL import Image

from cvstudio.core.checkpoints import CheckpointMeta, save_checkpoint
from cvstudio.core.export import export_checkpoint
from cvstudio.core.inference import Classifier
from cvstudio.core.inspect import conv_kernels, feature_maps
from cvstudio.core.models.builder import build_model
from cvstudio.core.models.torchvision_models import arch_spec
from cvstudio.core.saliency import compute_saliency, last_conv_layer


@pytest.fixture(params=[("resnet18", 64), ("mobilenet_v3_small", 48)], ids=lambda p: p[0])
def arch_ckpt(request, tmp_path):
    arch, side = request.param
    torch.manual_seed(0)
    spec = arch_spec(arch)
    model = build_model(spec, (3, side, side), 3).eval()
    meta = CheckpointMeta(spec, ("a", "b", "c"), (3, side, side), (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    path = save_checkpoint(tmp_path / f"{arch}.safetensors", model, meta)
    return arch, side, model, path


def test_kernels_feature_maps_and_grad_cam_per_stage(arch_ckpt):
    arch, side, model, _ = arch_ckpt
    kernels = conv_kernels(model)
    first = next(iter(kernels.values()))
    assert first.shape == ((64, 3, 7, 7) if arch == "resnet18" else (16, 3, 3, 3))
    maps = feature_maps(model, torch.randn(1, 3, side, side))
    names = [m.name for m in maps]
    if arch == "resnet18":
        assert names[:8] == ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"]
        assert maps[7].shape == (512, side // 32, side // 32)
    else:
        assert names[:13] == [f"features.{i}" for i in range(13)]
    stage = last_conv_layer(model)
    assert stage == ("layer4" if arch == "resnet18" else "features.12")
    sal = compute_saliency(model, torch.randn(3, side, side))
    assert sal.method == "grad-cam" and sal.layer == stage and sal.heatmap.shape == (side, side)
    assert np.isfinite(sal.heatmap).all()


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_verified_export(arch_ckpt, tmp_path, fmt):
    arch, _, _, path = arch_ckpt
    report = export_checkpoint(path, fmt, tmp_path / f"{arch}.{'onnx' if fmt == 'onnx' else 'pt'}")
    assert report.max_abs_diff < 1e-3


def test_classification_at_the_models_input_size(arch_ckpt, tmp_path):
    _, side, _, path = arch_ckpt
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (300, 200, 3), dtype=np.uint8)).save(tmp_path / "x.png")
    classifier = Classifier.from_checkpoint(path)
    assert classifier.input_shape == (3, side, side)
    p = classifier.probabilities(torch.zeros(2, 3, side, side, dtype=torch.uint8))
    assert p.shape == (2, 3) and np.allclose(p.sum(1), 1, atol=1e-5)
