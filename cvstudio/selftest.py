"""``cvstudio --self-test`` / ``cvstudio selftest``: prove that this installation works.

Meant for a packaged (frozen) CV Studio above all -- ``make package-test``
runs it on the built bundle, outside any virtual environment -- but it runs
the same from a source checkout. Each check prints one line; the first that
fails prints what went wrong and the run exits 1 (0 when all passed):

1. the version comes from the package metadata and the resources (icons)
   are found through the package, not the working directory;
2. torch imports and computes; torchvision's compiled ops (``nms``) load;
   scipy.io reads .mat files (torchvision's SVHN needs it);
3. the built-in dataset loads, the convnet trains one epoch on the CPU and
   its checkpoint is saved, reloaded and gives the same outputs;
4. a sample image written as a PNG is classified from the checkpoint;
5. the model exports to TorchScript, ONNX and Python, each verified
   against the model (skipped with ``--quick``);
6. the main window opens (offscreen unless QT_QPA_PLATFORM says otherwise),
   loads PyTorch and the dataset in its workers, paints and closes.

Everything is written under a temporary CVSTUDIO_HOME that is removed at the
end, so the user's folders and settings are untouched.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable

WINDOW_TIMEOUT_S = 120.0  # the window must be ready (torch + dataset loaded in workers) within this


class CheckFailed(Exception):
    """A check found something wrong; the message says what."""


class SelfTest:
    def __init__(self, work: Path, quick: bool = False, out=None):  # noqa: ANN001
        self.work = work
        self.quick = quick
        self.out = out or sys.stdout
        self.context: dict[str, Any] = {}

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def run(self) -> int:
        checks: list[tuple[str, Callable[[], str]]] = [
            ("version", self.check_version),
            ("resources", self.check_resources),
            ("torch", self.check_torch),
            ("torchvision ops", self.check_torchvision_ops),
            ("scipy.io", self.check_scipy_io),
            ("dataset", self.check_dataset),
            ("train 1 epoch", self.check_train),
            ("checkpoint reload", self.check_reload),
            ("classify image", self.check_classify),
        ]
        if not self.quick:
            checks.append(("export", self.check_export))
        checks.append(("main window", self.check_window))
        started = time.perf_counter()
        for name, check in checks:
            t0 = time.perf_counter()
            try:
                detail = check()
            except Exception as exc:  # noqa: BLE001 - every failure is reported the same way
                if not isinstance(exc, CheckFailed):
                    traceback.print_exc(file=self.out)
                message = str(exc) if isinstance(exc, CheckFailed) else f"{type(exc).__name__}: {exc}"
                self.say(f"FAIL {name}: {message}")
                self.say(f"self-test FAILED at '{name}'")
                return 1
            self.say(f"ok   {name:<18} {time.perf_counter() - t0:6.2f} s  {detail}")
        self.say(f"self-test passed: {len(checks)} checks in {time.perf_counter() - started:.1f} s")
        return 0

    # --- the checks ----------------------------------------------------------------------

    def check_version(self) -> str:
        from importlib import metadata

        import cvstudio

        try:
            version = metadata.version("cvstudio")
        except metadata.PackageNotFoundError as exc:
            raise CheckFailed("no package metadata for 'cvstudio' (the bundle must collect its dist-info)") from exc
        if cvstudio.__version__ != version:
            raise CheckFailed(f"cvstudio.__version__ is {cvstudio.__version__!r}, the metadata says {version!r}")
        frozen = "frozen bundle" if getattr(sys, "frozen", False) else "source/venv"
        return f"cvstudio {version} ({frozen}, Python {sys.version.split()[0]}, {sys.executable})"

    def check_resources(self) -> str:
        from cvstudio import resources

        names = [resources.ICON_SVG] + [resources.icon_png_name(s) for s in resources.ICON_SIZES]
        missing = [n for n in names if not resources.files().joinpath(n).is_file()]
        if missing:
            raise CheckFailed(f"resources missing from the package: {', '.join(missing)}")
        data = resources.files().joinpath(resources.icon_png_name(256)).read_bytes()
        if not data.startswith(b"\x89PNG"):
            raise CheckFailed("the 256 px icon is not a PNG")
        return f"{len(names)} icon files in {resources.files()}"

    def check_torch(self) -> str:
        t0 = time.perf_counter()
        import torch

        import_s = time.perf_counter() - t0
        a = torch.arange(6, dtype=torch.float32).reshape(2, 3)
        if (a @ a.T).tolist() != [[5.0, 14.0], [14.0, 50.0]]:
            raise CheckFailed("a 2x3 matrix product gave a wrong result")
        conv = torch.nn.functional.conv2d(torch.ones(1, 1, 4, 4), torch.ones(1, 1, 3, 3))
        if conv.flatten().tolist() != [9.0] * 4:
            raise CheckFailed("a 3x3 convolution gave a wrong result")
        cuda = f"CUDA {torch.version.cuda} build" if torch.version.cuda else "CPU build"
        gpu = "GPU available" if torch.cuda.is_available() else "no GPU in use"
        return f"torch {torch.__version__} ({cuda}, {gpu}), imported in {import_s:.1f} s, {torch.get_num_threads()} threads"

    def check_torchvision_ops(self) -> str:
        import torch
        import torchvision
        from torchvision import ops

        boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0], [50.0, 50.0, 60.0, 60.0]])
        scores = torch.tensor([0.9, 0.8, 0.7])
        try:
            keep = ops.nms(boxes, scores, iou_threshold=0.5)
        except RuntimeError as exc:  # "operator torchvision::nms does not exist": _C not collected
            raise CheckFailed(f"torchvision's compiled ops are missing: {exc}") from exc
        if keep.tolist() != [0, 2]:
            raise CheckFailed(f"torchvision.ops.nms kept {keep.tolist()}, expected [0, 2]")
        pooled = ops.roi_align(torch.ones(1, 1, 8, 8), [torch.tensor([[0.0, 0.0, 7.0, 7.0]])], output_size=2)
        if tuple(pooled.shape) != (1, 1, 2, 2):
            raise CheckFailed("torchvision.ops.roi_align gave a wrong shape")
        return f"torchvision {torchvision.__version__}: nms, roi_align"

    def check_scipy_io(self) -> str:
        import io

        import numpy as np
        import scipy.io

        buffer = io.BytesIO()
        images = np.arange(2 * 2 * 3 * 1, dtype=np.uint8).reshape(2, 2, 3, 1)
        scipy.io.savemat(buffer, {"X": images, "y": np.array([[1.0]])})
        buffer.seek(0)
        back = scipy.io.loadmat(buffer)
        if not np.array_equal(back["X"], images):
            raise CheckFailed("a .mat file written and read back differs")
        return f"scipy {scipy.__version__}: .mat round trip (torchvision's SVHN reader)"

    def check_dataset(self) -> str:
        from cvstudio.core.data import load_dataset
        from cvstudio.core.specs import DataConfig

        data = load_dataset(DataConfig())
        self.context["data"] = data
        if len(data.train) == 0 or len(data.val) == 0:
            raise CheckFailed("the built-in dataset is empty")
        c, h, w = data.input_shape
        return f"{data.description}: {len(data.train):,} + {len(data.val):,} images {c}x{h}x{w}, {data.num_classes} classes"

    def check_train(self) -> str:
        from cvstudio.core.models import get_preset
        from cvstudio.core.runs import train_and_save
        from cvstudio.core.specs import DataConfig, TrainConfig

        data = self.context["data"]
        out = self.work / "selftest.safetensors"
        outcome = train_and_save(get_preset("convnet"), data, TrainConfig(epochs=1, device="cpu"), DataConfig(), out=out)
        if outcome.checkpoint is None or not Path(outcome.checkpoint).is_file():
            raise CheckFailed(f"no checkpoint was written ({outcome.result.status}: {outcome.result.message})")
        self.context["outcome"] = outcome
        r = outcome.result
        val_acc = r.metrics.get("val_acc", float("nan"))
        return f"convnet, val accuracy {val_acc:.3f}, {r.images_per_s:,.0f} img/s, {Path(outcome.checkpoint).stat().st_size:,} bytes"

    def check_reload(self) -> str:
        import torch

        from cvstudio.core.checkpoints import load_checkpoint

        outcome = self.context["outcome"]
        loaded = load_checkpoint(outcome.checkpoint)
        x = self.context["data"].val.images[:8].float() / 255.0
        with torch.inference_mode():
            a, b = outcome.model(x), loaded.model(x)
        if not torch.equal(a, b):
            raise CheckFailed(f"the reloaded model answers differently (max diff {float((a - b).abs().max()):.3g})")
        self.context["loaded"] = loaded
        return f"{loaded.meta.model_spec.name}, {len(loaded.meta.class_names)} classes, same outputs"

    def check_classify(self) -> str:
        from PIL import Image

        from cvstudio.core.inference import Classifier

        data = self.context["data"]
        image = data.val.images[0].permute(1, 2, 0).numpy()
        if image.shape[2] == 1:
            image = image[:, :, 0]
        png = self.work / "sample.png"
        Image.fromarray(image).save(png)
        (prediction,) = Classifier.from_checkpoint(self.context["outcome"].checkpoint).classify_paths([png])
        if prediction.error:
            raise CheckFailed(f"classifying {png.name} failed: {prediction.error}")
        if prediction.label not in data.class_names:
            raise CheckFailed(f"unknown label {prediction.label!r}")
        truth = data.class_names[int(data.val.labels[0])]
        return f"{png.name}: {prediction.label} ({prediction.prob:.2f}), truly {truth}"

    def check_export(self) -> str:
        from cvstudio.core.export import export_checkpoint

        done = []
        # python: verified by running the written file with sys.executable -- in a bundle, the bundle itself
        for fmt, name in (("torchscript", "model.pt"), ("onnx", "model.onnx"), ("python", "model.py")):
            report = export_checkpoint(self.context["outcome"].checkpoint, fmt, self.work / name)
            if not (self.work / name).is_file():
                raise CheckFailed(f"{fmt} export wrote nothing: {report}")
            done.append(fmt)
        return ", ".join(done) + " (verified against the model)"

    def check_window(self) -> str:
        import logging

        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

        class _Errors(logging.Handler):  # a page that cannot be built only logs its error: catch that
            def __init__(self) -> None:
                super().__init__(logging.ERROR)
                self.messages: list[str] = []

            def emit(self, record: logging.LogRecord) -> None:
                text = record.getMessage()
                if record.exc_info and record.exc_info[1] is not None:
                    text += f" ({type(record.exc_info[1]).__name__}: {record.exc_info[1]})"
                self.messages.append(text)

        errors = _Errors()
        logging.getLogger().addHandler(errors)
        try:
            return self._open_window(errors)
        finally:
            logging.getLogger().removeHandler(errors)

    def _open_window(self, errors) -> str:  # noqa: ANN001
        from PySide6.QtCore import QElapsedTimer, QEvent, QObject, QTimer, qVersion
        from PySide6.QtGui import QGuiApplication

        from cvstudio.gui.app import create_application
        from cvstudio.gui.main_window import MainWindow
        from cvstudio.gui.tasks import running_threads

        class _PaintSpy(QObject):
            painted_after: float | None = None

            def eventFilter(self, obj, event) -> bool:  # noqa: ANN001
                if event.type() == QEvent.Type.Paint and self.painted_after is None:
                    self.painted_after = clock.elapsed() / 1000
                return False

        if QGuiApplication.instance() is None:
            self._check_platform_plugin()
        app = create_application([sys.argv[0]])
        platform = QGuiApplication.platformName()
        clock = QElapsedTimer()
        clock.start()
        window = MainWindow(checkpoint_path=str(self.context["outcome"].checkpoint))
        if not hasattr(window, "is_ready"):
            raise CheckFailed("MainWindow has no is_ready property to wait for")
        def is_ready() -> bool:
            value = window.is_ready
            return bool(value() if callable(value) else value)

        spy = _PaintSpy(window)
        window.installEventFilter(spy)
        window.show()
        while not (spy.painted_after is not None and is_ready()) and clock.elapsed() < WINDOW_TIMEOUT_S * 1000:
            app.processEvents()
            time.sleep(0.01)
        ready = is_ready()
        ready_s = clock.elapsed() / 1000
        paint_s = spy.painted_after
        about = window.about_text()
        QTimer.singleShot(0, window.close)
        for _ in range(20):
            app.processEvents()
        window.close()
        for thread in running_threads():
            thread.wait(30_000)
        app.processEvents()
        window.deleteLater()
        app.processEvents()
        if paint_s is None:
            raise CheckFailed(f"the window was never painted (platform {platform!r})")
        if not ready:
            raise CheckFailed(f"the window was not ready within {WINDOW_TIMEOUT_S:.0f} s (torch/dataset workers)")
        if errors.messages:
            raise CheckFailed(f"the window logged {len(errors.messages)} error(s), first: {errors.messages[0]}")
        import cvstudio

        for needle in (cvstudio.__version__, "PyTorch", "Qt"):
            if needle not in about:
                raise CheckFailed(f"Help > About does not show {needle!r}")
        return f"Qt {qVersion()} on '{platform}': painted after {paint_s or 0:.2f} s, ready after {ready_s:.1f} s"


    @staticmethod
    def _check_platform_plugin() -> None:
        """Without its platform plugin Qt aborts the process; say which one is missing first."""
        from PySide6.QtCore import QLibraryInfo

        name = os.environ.get("QT_QPA_PLATFORM", "").split(":")[0]
        if name not in ("offscreen", "xcb", "wayland", "windows", "cocoa"):
            return  # the platform's default, or one named differently from its plugin file
        folders = [Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms"]
        folders += [Path(p) / "platforms" for p in os.environ.get("QT_PLUGIN_PATH", "").split(os.pathsep) if p]
        if not any(f.is_dir() and any(f.glob(f"*q{name}.*")) for f in folders):
            raise CheckFailed(f"the Qt platform plugin '{name}' is missing (looked in {', '.join(map(str, folders))})")


def run(argv: list[str] | None = None) -> int:
    """Run the self-test; returns the exit status (0 all passed, 1 a check failed)."""
    argv = list(argv or [])
    quick = "--quick" in argv
    keep = os.environ.get("CVSTUDIO_SELFTEST_KEEP") == "1"
    work = Path(tempfile.mkdtemp(prefix="cvstudio-selftest-"))
    previous_home = os.environ.get("CVSTUDIO_HOME")
    os.environ["CVSTUDIO_HOME"] = str(work / "home")
    try:
        return SelfTest(work, quick=quick).run()
    finally:
        if previous_home is None:
            os.environ.pop("CVSTUDIO_HOME", None)
        else:
            os.environ["CVSTUDIO_HOME"] = previous_home
        if keep:
            print(f"self-test files kept in {work}", flush=True)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
