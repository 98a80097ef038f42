"""core/ must never import Qt or the GUI (DESIGN.md section 3): prove it with Qt blocked.

Importing every module catches module-level imports; the second test also
*runs* the core's main paths (train, evaluate, the learning-rate finder,
checkpoints, classify, saliency, inspection, thread tuning, the CLI), so an
import made inside a function is caught too. import-linter's contract in
pyproject.toml (``lint-imports``, run by ``make test``) checks the same rule
statically.
"""

import subprocess
import sys

BLOCK_QT = r"""
import sys

class BlockQt:
    blocked = ("PySide6", "PyQt5", "PyQt6", "shiboken6", "pyqtgraph")
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.blocked or name.startswith("cvstudio.gui"):
            raise ImportError(f"core imported {name}")
        return None

sys.meta_path.insert(0, BlockQt())
for name in list(sys.modules):  # nothing Qt may be loaded already
    assert not name.startswith(("PySide6", "pyqtgraph", "cvstudio.gui")), name
"""

IMPORT_EVERY_CORE_MODULE = BLOCK_QT + r"""
import importlib, pkgutil
import cvstudio.core
names = [m.name for m in pkgutil.walk_packages(cvstudio.core.__path__, "cvstudio.core.")]
for name in names:
    importlib.import_module(name)
import cvstudio.cli
print(len(names))
"""

EXERCISE_THE_CORE = BLOCK_QT + r"""
import contextlib, io, os, tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from tests.conftest import make_tiny_bundle
from cvstudio.core.checkpoints import CheckpointMeta, load_checkpoint, read_meta, save_checkpoint
from cvstudio.core.control import RunControl
from cvstudio.core.evaluate import evaluate_split, find_lr
from cvstudio.core.inference import Classifier, NamedImage, classify
from cvstudio.core.inspect import conv_kernels, inspect_image, kernel_display, playground_code
from cvstudio.core.models import build_model, get_preset, summarize
from cvstudio.core.saliency import colorize, explain
from cvstudio.core.specs import TrainConfig
from cvstudio.core.threads import lower_thread_priority, single_intraop_thread
from cvstudio.core.training import fit, new_model

tmp = Path(tempfile.mkdtemp())
os.environ["CVSTUDIO_HOME"] = str(tmp / "home")
bundle = make_tiny_bundle(n_train=64, n_val=32)
spec = get_preset("convnet")
model = new_model(spec, bundle, 0)
fit(model, bundle, TrainConfig(epochs=1, device="cpu"), control=RunControl())
evaluation = evaluate_split(model, bundle, "val", control=RunControl())
find_lr(model, bundle, TrainConfig(device="cpu"), steps=10, control=RunControl())
summarize(spec, bundle.input_shape, bundle.num_classes)

meta = CheckpointMeta(spec, bundle.class_names, bundle.input_shape, bundle.mean, bundle.std)
ckpt = save_checkpoint(tmp / "m.safetensors", model, meta)
read_meta(ckpt)
loaded = load_checkpoint(ckpt)
clf = Classifier(loaded.model, loaded.meta)
clf.warm_up()
png = tmp / "x.png"
Image.fromarray(np.full((20, 20, 3), 200, np.uint8)).save(png)
rows = []
summary = classify(clf, [png, tmp, NamedImage("pasted", Image.open(png))], RunControl(), rows.extend,
                   thumbnail_side=8, keep_views_up_to=1024, lower_priority=False)
assert summary.done == 3, summary
with single_intraop_thread():
    pass
saliency = explain(clf, rows[0].view)
colorize(saliency.heatmap)
image = np.zeros((3, 16, 16), np.uint8)
inspect_image(loaded.model, image, bundle.mean, bundle.std)
kernels = conv_kernels(loaded.model)
kernel_display(next(iter(kernels.values())), "channels")
playground_code(np.ones((3, 3), np.float32) / 9, 3, 1, 1, False)

import cvstudio.cli
for argv in (["presets"], ["info", str(ckpt)], ["classify", str(ckpt), str(png), "--json"]):
    with contextlib.redirect_stdout(io.StringIO()):
        assert cvstudio.cli.main(argv) in (0, None), argv
leaked = [name for name in sys.modules if name.startswith(("PySide6", "pyqtgraph", "shiboken6", "cvstudio.gui"))]
assert not leaked, leaked
print("ok")
"""


def _run(code: str) -> subprocess.CompletedProcess:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {**__import__("os").environ, "PYTHONPATH": str(root)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=root, env=env)


def test_every_core_module_imports_with_qt_blocked():
    proc = _run(IMPORT_EVERY_CORE_MODULE)
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout.strip()) >= 10  # really walked the package


def test_the_core_runs_with_qt_blocked():
    """Imports made inside functions count too: run the core's paths with Qt unavailable."""
    proc = _run(EXERCISE_THE_CORE)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("ok")
