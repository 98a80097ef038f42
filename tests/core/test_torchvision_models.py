"""torchvision architectures as ModelSpecs (issue 13): build, summary, code view, checkpoints."""

import ast

import pytest
import torch

from cvstudio.core.checkpoints import CheckpointMeta, load_checkpoint, save_checkpoint
from cvstudio.core.errors import SpecError
from cvstudio.core.models import build_model, summarize
from cvstudio.core.models.codegen import model_source
from cvstudio.core.models.torchvision_models import arch_source, arch_spec, default_input_size, imagenet_stats
from cvstudio.core.specs import ARCHITECTURES, ModelSpec


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_every_architecture_builds_with_a_new_head_and_summarizes(arch):
    spec = arch_spec(arch)
    assert ModelSpec.from_dict(spec.to_dict()) == spec
    summary = summarize(spec, (3, 32, 32), 3)
    model = build_model(spec, (3, 32, 32), 3).eval()
    assert summary.total_params == sum(p.numel() for p in model.parameters())
    assert summary.layers[-1].out_shape == (3,) and summary.layers[-1].spec_index == 0
    with torch.no_grad():
        assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 3)


def test_spec_json_and_defaults_from_the_weights():
    spec = arch_spec("resnet18", "IMAGENET1K_V1", name="my resnet")
    d = spec.to_dict()
    assert d["arch"] == "resnet18" and d["weights"] == "IMAGENET1K_V1"
    assert ModelSpec.from_dict(d) == spec
    plain = ModelSpec("x", ())
    assert "arch" not in plain.to_dict()  # plain specs keep their old form
    assert default_input_size("resnet18") == 224
    mean, std = imagenet_stats("convnext_tiny")
    assert mean == pytest.approx((0.485, 0.456, 0.406)) and std == pytest.approx((0.229, 0.224, 0.225))
    with pytest.raises(SpecError, match="unknown architecture"):
        ModelSpec("x", (), arch="vgg11")
    with pytest.raises(SpecError, match="3-channel"):
        build_model(arch_spec("resnet18"), (1, 32, 32), 2)


def test_code_view_is_torchvision_call_plus_head_with_literal_strings():
    spec = arch_spec("mobilenet_v3_small", "IMAGENET1K_V1")
    object.__setattr__(spec, "name", 'evil""" + __import__("os").system("x")')  # as if validation had a hole
    src = model_source(spec, (3, 32, 32), 4)
    assert "torchvision.models.mobilenet_v3_small(weights=None)" in src  # loading a checkpoint never downloads
    assert "weights='IMAGENET1K_V1' downloads them" in src
    assert "model.classifier[3] = nn.Linear(1024, 4)" in src
    shown = arch_source(spec, (3, 32, 32), 4, with_weights=True)
    assert "torchvision.models.mobilenet_v3_small(weights='IMAGENET1K_V1')" in shown
    for text in (src, shown):
        tree = ast.parse(text)
        assert not any(isinstance(n, ast.Call) and getattr(n.func, "id", "") == "__import__" for n in ast.walk(tree))
    ns = {}
    exec(compile(src, "gen", "exec"), ns)
    built = build_model(spec, (3, 32, 32), 4)
    assert set(ns["Net"]().state_dict()) == set(built.state_dict())  # the same module, same names


def test_checkpoint_round_trip(tmp_path):
    spec = arch_spec("regnet_y_400mf")
    model = build_model(spec, (3, 32, 32), 2)
    meta = CheckpointMeta(spec, ("a", "b"), (3, 32, 32), (0.5,) * 3, (0.25,) * 3)
    save_checkpoint(tmp_path / "r.safetensors", model, meta)
    loaded = load_checkpoint(tmp_path / "r.safetensors")
    assert loaded.meta.model_spec == spec
    for k, v in model.state_dict().items():
        torch.testing.assert_close(loaded.model.state_dict()[k], v)


def test_python_export_of_a_torchvision_checkpoint_runs_offline(tmp_path):
    from cvstudio.core.export import export_checkpoint

    spec = arch_spec("resnet18", "IMAGENET1K_V1")
    model = build_model(spec, (3, 32, 32), 2)
    meta = CheckpointMeta(spec, ("a", "b"), (3, 32, 32), (0.5,) * 3, (0.25,) * 3)
    save_checkpoint(tmp_path / "r.safetensors", model, meta)
    report = export_checkpoint(tmp_path / "r.safetensors", "python", tmp_path / "r.py")
    assert report.max_abs_diff < 1e-4
