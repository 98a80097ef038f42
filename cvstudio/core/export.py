"""Export a checkpoint as standalone PyTorch code, TorchScript or ONNX -- and prove it works.

Every export is written to a temporary file next to the target, run on a
sample batch and compared with the in-app model; only then is it moved into
place. A failed export leaves no file behind (and an existing file intact).
"""

from __future__ import annotations

import ast
import dataclasses
import os
import subprocess
import sys
import tempfile
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from cvstudio.core.atomic import replacing
from cvstudio.core.checkpoints import CheckpointMeta, load_checkpoint, save_checkpoint
from cvstudio.core.errors import UserError
from cvstudio.core.models.codegen import model_source

FORMATS = {"python": ".py", "torchscript": ".pt", "onnx": ".onnx"}
ONNX_OPSET = 18  # the torch.export-based exporter's default; onnxruntime >= 1.14 and TensorRT 8.6+ run it
TOLERANCE = 1e-4  # largest allowed |difference| between the export's outputs and the model's


class ExportError(UserError):
    """An export could not be written or did not reproduce the model's outputs."""


@dataclass(frozen=True)
class ExportReport:
    path: Path
    format: str
    max_abs_diff: float  # between the exported artifact and the in-app model on a sample batch
    checked_with: str  # what ran the artifact
    weights: Path | None = None  # python: the checkpoint next to the .py that its load() reads
    wrote_weights: bool = False  # python: that checkpoint was written by this export (else it already was there)

    def __str__(self) -> str:
        return (
            f"exported {self.format} to {self.path} "
            f"(verified with {self.checked_with}: max abs difference {self.max_abs_diff:.2e})"
        )


def sample_batch(meta: CheckpointMeta, n: int = 4, seed: int = 0) -> torch.Tensor:
    """Normalized-looking inputs of the model's shape (what preprocessing produces)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn((n, *meta.input_shape), generator=g)


def export_checkpoint(checkpoint: str | os.PathLike[str], fmt: str, out: str | os.PathLike[str]) -> ExportReport:
    loaded = load_checkpoint(checkpoint)
    return export_model(loaded.model, loaded.meta, fmt, out, checkpoint_path=Path(checkpoint))


def export_model(
    model: nn.Module,
    meta: CheckpointMeta,
    fmt: str,
    out: str | os.PathLike[str],
    checkpoint_path: Path | None = None,
) -> ExportReport:
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r} (use {', '.join(FORMATS)})")
    out = Path(out)
    if out.is_dir():
        raise ExportError(f"{out} is a folder; give a file name ending in {FORMATS[fmt]}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"cannot create the folder {out.parent}: {exc.strerror or exc}") from exc
    model = model.to("cpu").eval()
    x = sample_batch(meta)
    with torch.inference_mode():
        expected = model(x)

    weights, write_weights = (python_weights_for(out, checkpoint_path) if fmt == "python" else (None, False))
    try:
        with replacing(out) as tmp:
            if fmt == "python":
                diff, checked = _export_python(model, meta, tmp, x, expected, weights)
            elif fmt == "torchscript":
                diff, checked = _export_torchscript(model, tmp, x, expected)
            else:
                diff, checked = _export_onnx(model, tmp, x, expected)
            if not diff <= TOLERANCE:
                raise ExportError(
                    f"the {fmt} export does not reproduce the model: max abs difference {diff:.3g} > {TOLERANCE:g}"
                )
            if write_weights:  # before the .py takes its name: a .py never points at weights that are not there
                save_checkpoint(weights, model, meta)
    except ExportError:
        raise
    except UserError as exc:  # the weights could not be written next to the .py
        raise ExportError(str(exc)) from exc
    except OSError as exc:
        raise ExportError(f"could not write {out}: {exc.strerror or exc}") from exc
    except Exception as exc:
        raise ExportError(f"{fmt} export failed: {type(exc).__name__}: {exc}") from exc
    return ExportReport(out, fmt, diff, checked, weights, write_weights)


def python_weights_for(out: Path, checkpoint_path: Path | None) -> tuple[Path, bool]:
    """(the checkpoint a Python export at ``out`` loads, whether the export must write it).

    The .py runs as is only with its weights beside it: a checkpoint already in
    that folder is named; otherwise the model's weights are written next to the
    .py as ``<name>.safetensors`` (a CV Studio checkpoint, so the app opens it too).
    """
    if checkpoint_path is not None and checkpoint_path.is_file():
        if checkpoint_path.resolve().parent == out.resolve().parent:
            return checkpoint_path, False
    return out.with_suffix(".safetensors"), True


# --- PyTorch code ------------------------------------------------------------------------


def python_module_source(meta: CheckpointMeta, checkpoint_path: Path | None = None) -> str:
    """A standalone .py: the nn.Module, the preprocessing, and load() for the checkpoint's weights.

    Every string that comes from the checkpoint or the user (model name, dataset,
    class names, file name, app version) is written as a ``repr()`` literal and
    nowhere else: a hostile string stays data, whatever quotes, backslashes or
    line separators it holds. :func:`check_generated_source` proves it.
    """
    spec = meta.model_spec
    body = model_source(spec, meta.input_shape, len(meta.class_names), class_name="Net")
    checkpoint_name = checkpoint_path.name if checkpoint_path else None
    header = '''"""A classifier exported by CV Studio: the network (Net), its preprocessing and load()/predict().

MODEL_NAME, TRAINED_ON and CLASSES below say what it is. Use it in plain PyTorch:

    import exported_module as m
    model = m.load()  # the CV Studio checkpoint named by CHECKPOINT, next to this file
    probs = m.predict(model, PIL.Image.open("image.jpg"))
"""
'''
    constants = (  # name, value, comment: every value is written with repr() and nothing else
        ("MODEL_NAME", spec.name, ""),
        ("TRAINED_ON", meta.dataset, ""),
        ("EXPORTED_BY", "CV Studio " + meta.app_version, ""),
        ("CLASSES", list(meta.class_names), ""),
        ("INPUT_SHAPE", tuple(meta.input_shape), "channels, height, width"),
        ("MEAN", tuple(meta.mean), ""),
        ("STD", tuple(meta.std), ""),
        ("CHECKPOINT", checkpoint_name, "the .safetensors file CV Studio saved, next to this file"),
        ("OUTPUTS_LOG_PROBS", spec.outputs_log_probs, ""),
    )
    tail = "\n\n" + "".join(
        f"{name} = {value!r}" + (f"  # {comment}" if comment else "") + "\n" for name, value, comment in constants
    ) + '''

def load(path=None):
    """Build Net and read the trained weights from a CV Studio .safetensors checkpoint."""
    import os

    from safetensors.torch import load_file

    if path is None:
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), CHECKPOINT)
    model = Net()
    tensors = load_file(path)
    # A stopped run's checkpoint also carries the state to resume it; it is not part of the model.
    model.load_state_dict({k: v for k, v in tensors.items() if not k.startswith("__resume__.")})
    return model.eval()


def preprocess(image):
    """A PIL image -> a normalized (1, C, H, W) tensor, as in training."""
    from PIL import ImageOps
    from torchvision.transforms import functional as TF

    image = ImageOps.exif_transpose(image).convert("RGB" if INPUT_SHAPE[0] == 3 else "L")
    image = image.resize((INPUT_SHAPE[2], INPUT_SHAPE[1]), resample=2)  # bilinear
    return TF.normalize(TF.to_tensor(image), MEAN, STD).unsqueeze(0)


@torch.inference_mode()
def predict(model, image):
    """Class name -> probability for one PIL image."""
    out = model(preprocess(image))[0]
    probs = out.exp() if OUTPUTS_LOG_PROBS else out.softmax(0)
    return dict(zip(CLASSES, probs.tolist()))
'''
    # model_source ends with an ``if __name__ == "__main__"`` demo of an untrained Net; the export's demo
    # runs the trained model instead, in eval mode, so `python file.py` proves the weights beside it load.
    main_at = body.index('\nif __name__ == "__main__":')
    c, h, w = (int(v) for v in meta.input_shape)
    demo = (
        '\nif __name__ == "__main__":\n'
        "    model = load()\n"
        f"    print(model(torch.zeros(1, {c}, {h}, {w})).shape)  # torch.Size([1, {len(meta.class_names)}])\n"
    )
    return header + body[:main_at].rstrip() + "\n" + tail + "\n" + demo


def _code_shape(source: str) -> str:
    """The source's syntax tree with every string literal blanked: what is code, not data."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            node.value = ""
    return ast.dump(tree, include_attributes=False)


def check_generated_source(source: str, meta: CheckpointMeta, checkpoint_path: Path | None = None) -> None:
    """Refuse generated code that is not exactly what the generator writes.

    The same module is generated again from a copy of ``meta`` whose strings
    are harmless placeholders; blanking every string literal, the two syntax
    trees must be identical. A string from the checkpoint that escaped its
    literal (as code, an import, a call) changes the tree and is refused before
    anything runs the file.
    """
    placeholder = dataclasses.replace(
        meta,
        model_spec=dataclasses.replace(meta.model_spec, name="model"),
        class_names=tuple(f"class{i}" for i in range(meta.num_classes)),
        dataset="",
        app_version="0",
    )
    reference = python_module_source(placeholder, Path("model.safetensors") if checkpoint_path else None)
    try:
        shape = _code_shape(source)
    except (SyntaxError, ValueError, RecursionError):
        shape = None
    if shape != _code_shape(reference):
        raise ExportError(
            "refusing to write the Python export: the checkpoint's text (model name, class names or "
            "dataset) would change the generated code; the checkpoint may have been crafted"
        )


_VERIFY_PYTHON = r"""
import importlib.util, sys, torch
from safetensors.torch import load_file
spec = importlib.util.spec_from_file_location("exported", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
model = module.load()  # as a user runs it: the weights file it names, next to it
x = load_file(sys.argv[3])["x"]
with torch.inference_mode():
    y = model(x)
expected = load_file(sys.argv[3])["expected"]
print(float((y - expected).abs().max()))
"""


def _export_python(model, meta, tmp: Path, x, expected, weights_path: Path) -> tuple[float, str]:
    from safetensors.torch import save_file

    source = python_module_source(meta, weights_path)
    check_generated_source(source, meta, weights_path)  # before anything runs it
    tmp.write_text(source, encoding="utf-8")
    # Run the written file in a fresh interpreter, as a user would, with this model's weights beside it.
    with tempfile.TemporaryDirectory() as work:
        module_dir = Path(work) / "module"  # the .py and its weights alone: any weights name is safe here
        module_dir.mkdir()
        weights = module_dir / weights_path.name
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
        io_file = Path(work) / "io.safetensors"
        save_file({"x": x.contiguous(), "expected": expected.contiguous()}, str(io_file))
        script = Path(work) / "verify.py"
        script.write_text(_VERIFY_PYTHON, encoding="utf-8")
        module_copy = module_dir / "exported_model.py"
        module_copy.write_bytes(tmp.read_bytes())
        proc = subprocess.run(
            [sys.executable, str(script), str(module_copy), str(weights), str(io_file)],
            capture_output=True, text=True, timeout=300,
        )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise ExportError(f"the exported Python file does not run: {last}")
    return float(proc.stdout.strip().splitlines()[-1]), "a fresh Python interpreter"


# --- TorchScript ---------------------------------------------------------------------------


def _export_torchscript(model, tmp: Path, x, expected) -> tuple[float, str]:
    with warnings.catch_warnings():  # TorchScript is deprecated upstream, but users still ask for it
        warnings.simplefilter("ignore", FutureWarning)
        scripted = torch.jit.script(model)
    with torch.inference_mode():
        diff = float((scripted(x) - expected).abs().max())
    scripted.save(str(tmp))
    with zipfile.ZipFile(tmp) as archive:  # the saved archive is complete and uncorrupted
        bad = archive.testzip()
        if bad is not None:
            raise ExportError(f"the TorchScript archive is damaged ({bad})")
    return diff, "the scripted module"


# --- ONNX ------------------------------------------------------------------------------------


def _export_onnx(model, tmp: Path, x, expected) -> tuple[float, str]:
    try:
        import onnx
    except ImportError as exc:
        raise ExportError("ONNX export needs the 'onnx' package: pip install onnx onnxruntime") from exc
    torch.onnx.export(
        model,
        (x,),
        str(tmp),
        dynamo=True,
        input_names=["image"],
        output_names=["scores"],
        dynamic_shapes=({0: torch.export.Dim("batch")},),  # any batch size
        opset_version=ONNX_OPSET,
        external_data=False,  # one self-contained file
        verbose=False,
    )
    onnx.checker.check_model(str(tmp))
    try:
        import onnxruntime
    except ImportError as exc:
        raise ExportError("verifying the ONNX export needs onnxruntime: pip install onnxruntime") from exc
    session = onnxruntime.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"image": x.numpy()})
    diff = float(abs(torch.from_numpy(out) - expected).max())
    return diff, f"onnxruntime {onnxruntime.__version__}"
