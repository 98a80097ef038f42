import subprocess
import sys

import pytest
import torch

from cvstudio.core.checkpoints import CheckpointMeta, save_checkpoint
from cvstudio.core.export import ExportError, export_checkpoint, export_model, python_module_source
from cvstudio.core.models import build_model, get_preset


def _checkpoint(tmp_path, preset="convnet-batchnorm"):
    torch.manual_seed(0)
    spec = get_preset(preset)
    model = build_model(spec, (3, 32, 32), 3).eval()
    meta = CheckpointMeta(model_spec=spec, class_names=("a", "b", "c"), input_shape=(3, 32, 32),
                          mean=(0.5, 0.4, 0.3), std=(0.2, 0.2, 0.2), dataset="test")
    path = tmp_path / "model.safetensors"
    save_checkpoint(path, model, meta)
    return path, model, meta


@pytest.mark.parametrize("fmt", ["python", "torchscript", "onnx"])
def test_export_round_trips_within_tolerance(tmp_path, fmt):
    path, _, _ = _checkpoint(tmp_path)
    out = tmp_path / f"exported.{fmt}"
    report = export_checkpoint(path, fmt, out)
    assert out.exists() and report.max_abs_diff <= 1e-4
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_exported_python_loads_the_checkpoint_in_a_fresh_interpreter(tmp_path):
    path, model, meta = _checkpoint(tmp_path, "resnet")
    out = tmp_path / "resnet_model.py"
    export_checkpoint(path, "python", out)
    script = (
        "import sys, torch; sys.path.insert(0, sys.argv[1]); import resnet_model as m\n"
        "net = m.load()\n"
        "from PIL import Image\n"
        "probs = m.predict(net, Image.new('RGB', (50, 40), 'red'))\n"
        "print(sorted(probs) == ['a', 'b', 'c'], abs(sum(probs.values()) - 1) < 1e-5)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "True"]
    assert "MEAN = (0.5, 0.4, 0.3)" in python_module_source(meta, path)


def test_python_export_elsewhere_writes_its_weights_beside_it_and_runs_as_is(tmp_path):
    path, model, meta = _checkpoint(tmp_path)
    elsewhere = tmp_path / "shared" / "deploy"
    report = export_model(model, meta, "python", elsewhere / "classifier.py", checkpoint_path=path)
    assert report.weights == elsewhere / "classifier.safetensors" and report.wrote_weights
    assert "CHECKPOINT = 'classifier.safetensors'" in (elsewhere / "classifier.py").read_text()
    proc = subprocess.run([sys.executable, "classifier.py"], cwd=elsewhere, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    script = "import classifier as m; net = m.load(); print(type(net).__name__)"
    proc = subprocess.run([sys.executable, "-c", script], cwd=elsewhere, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "Net", proc.stderr
    # next to its checkpoint, the export names that checkpoint and writes no second copy
    report = export_model(model, meta, "python", tmp_path / "other-name.py", checkpoint_path=path)
    assert report.weights == path and not report.wrote_weights
    assert not (tmp_path / "other-name.safetensors").exists()


def test_failed_export_leaves_no_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    path, model, meta = _checkpoint(tmp_path)
    out = tmp_path / "model.onnx"
    out.write_bytes(b"previous export")
    import cvstudio.core.export as export

    def broken(*args, **kwargs):
        raise RuntimeError("exporter crashed")

    monkeypatch.setattr(export.torch.onnx, "export", broken)
    with pytest.raises(ExportError, match="onnx export failed: RuntimeError: exporter crashed"):
        export_model(model, meta, "onnx", out)
    assert out.read_bytes() == b"previous export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx", "model.safetensors"]


def test_mismatching_export_is_refused(tmp_path, monkeypatch):
    path, model, meta = _checkpoint(tmp_path)
    import cvstudio.core.export as export

    monkeypatch.setattr(export, "TOLERANCE", -1.0)
    with pytest.raises(ExportError, match="does not reproduce the model"):
        export_model(model, meta, "torchscript", tmp_path / "m.pt")
    assert not (tmp_path / "m.pt").exists()


def test_unknown_format(tmp_path):
    path, model, meta = _checkpoint(tmp_path)
    with pytest.raises(ExportError, match="unknown export format"):
        export_model(model, meta, "keras", tmp_path / "x")
