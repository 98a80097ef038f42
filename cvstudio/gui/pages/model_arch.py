"""The Model page's "Network" and "Starting weights" boxes (issue 13, "Your own photos").

``ArchitectureChooser`` lets the user pick a torchvision architecture
(resnet18 … regnet_y_400mf) instead of a layer preset, shows its stages
(output shape and parameters each) in a table that replaces the layer table,
and chooses where the next run's weights start: random, torchvision's
pretrained weights (with a Download button, progress and Cancel), a
``.pth``/``.safetensors`` weights file, or a CV Studio checkpoint. The choice
becomes ``AppState.model_init`` (a core ``ModelInit``).

Everything that imports torchvision or touches tensors runs in the page's
TaskGroup: the overview of an architecture (stages, code, weights names,
whether they are downloaded), the download, and the check of a chosen file,
so a file for another architecture or class count is refused with one line
before any run starts, and the previous choice stays.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QWidget,
)

from cvstudio.core.errors import SpecError
from cvstudio.core.specs import ARCHITECTURES, ModelSpec
from cvstudio.gui.state import AppState
from cvstudio.gui.tasks import TaskError, TaskGroup
from cvstudio.gui.widgets.banner import ERROR, INFO, MessageBanner
from cvstudio.gui.widgets.labels import HintLabel
from cvstudio.gui.widgets.progress import ProgressBar

RANDOM, PRETRAINED, WEIGHTS_FILE, CHECKPOINT = "random", "pretrained", "file", "checkpoint"
_OVERVIEW, _DOWNLOAD, _CHECK = "arch-overview", "weights-download", "weights-check"


# --- work done in the page's TaskGroup (module-level functions: no widget is touched) ----------------


@dataclass(frozen=True)
class ArchOverview:
    """What the page shows of a torchvision architecture at the current input shape."""

    spec: ModelSpec
    input_shape: tuple[int, int, int]
    num_classes: int
    stages: tuple[tuple[str, str, str, int, bool], ...]  # name, module, output shape, params, is head
    total_params: int
    code: str
    error: str | None  # why it cannot take this input (then stages and code are empty)
    weights_names: tuple[str, ...]  # torchvision's pretrained weights of the architecture
    default_size: int  # the input side the (default or chosen) weights were made for
    weights_path: str  # where they are cached
    weights_ready: bool  # already downloaded


def arch_overview(spec: ModelSpec, input_shape: tuple[int, int, int], num_classes: int) -> ArchOverview:
    from cvstudio.core.errors import SpecError
    from cvstudio.core.models.torchvision_models import arch_source, arch_stages, default_input_size, weights_enum
    from cvstudio.core.models.weights import pretrained_file

    names = tuple(m.name for m in weights_enum(spec.arch))
    path, _ = pretrained_file(spec.arch, spec.weights)
    stages: tuple = ()
    code, error = "", None
    try:
        rows = arch_stages(spec, input_shape, num_classes)
        stages = tuple((r.name, r.description, "×".join(map(str, r.out_shape)), r.params, r.is_head) for r in rows)
        code = arch_source(spec, input_shape, num_classes, with_weights=True)
    except SpecError as exc:
        error = str(exc)
    return ArchOverview(spec, tuple(input_shape), num_classes, stages, sum(s[3] for s in stages), code, error,
                        names, default_input_size(spec.arch, spec.weights), str(path), path.exists())


def download_pretrained(arch: str, weights: str | None, control: Any = None, callbacks: Any = None) -> str:
    from cvstudio.core.models.weights import download_file, pretrained_file

    path, url = pretrained_file(arch, weights)
    return str(download_file(url, path, callbacks=callbacks, control=control))


def check_start_file(kind: str, path: str, spec: ModelSpec, input_shape: tuple[int, int, int], num_classes: int) -> str:
    """Refuse (UserError, one line) a file that cannot start a run of ``spec``; returns a note on success."""
    from cvstudio.core.models.builder import build_model
    from cvstudio.core.models.weights import checkpoint_weights, load_into, read_state_dict

    model = build_model(spec, input_shape, num_classes)
    if kind == WEIGHTS_FILE:
        notes = load_into(model, read_state_dict(path), Path(path).name)
    else:  # as prepare_model does: the head may differ when the checkpoint's classes do
        tensors, _ = checkpoint_weights(path)
        notes = load_into(model, tensors, Path(path).name, replace_head=True)
    return "; ".join(notes) or "every tensor fits the model"


# --- the widgets ----------------------------------------------------------------------------------


class ArchitectureChooser(QObject):
    """The Model page's architecture and starting-weights controls (``box``) and stage table (``stage_table``)."""

    chosen = Signal(object)  # arch name, or None for the layer presets
    summarized = Signal(object)  # ArchOverview of the spec now shown (no error)
    failed = Signal(str)  # why the architecture cannot be built for the data

    def __init__(self, state: AppState, tasks: TaskGroup, parent: QWidget):
        super().__init__(parent)
        self.state, self.tasks = state, tasks
        self.arch: str | None = None
        self.weights: str | None = None  # the pretrained weights chosen (spec.weights)
        self.name: str | None = None  # a loaded spec's own name
        self._shown: ArchOverview | None = None
        self._file: tuple[str, str] | None = None  # (kind, path) of a checked weights file or checkpoint
        self._build(parent)

    def _build(self, parent: QWidget) -> None:
        self.box = QGroupBox("Network", parent)
        form = QFormLayout(self.box)
        self.arch_combo = QComboBox(self.box)
        self.arch_combo.addItem("Layers (a preset below)", None)
        for name in ARCHITECTURES:
            self.arch_combo.addItem(f"{name} (torchvision)", name)
        self.arch_combo.setToolTip("Build the network from editable layers, or take a torchvision architecture")
        self.arch_combo.activated.connect(self._on_arch_combo_activated)
        form.addRow("Kind", self.arch_combo)
        self.start_combo = QComboBox(self.box)
        self.start_combo.setToolTip("Where the next run's weights start")
        self.start_combo.activated.connect(self._on_start_combo_activated)
        form.addRow("Start from", self.start_combo)
        self.info_label = HintLabel("", self.box)
        form.addRow(self.info_label)
        self.download_button = QPushButton("Download weights", self.box)
        self.download_button.setToolTip("Fetch torchvision's pretrained weights into the torch hub cache (hash-checked)")
        self.download_button.clicked.connect(self._on_download_button_clicked)
        self.cancel_button = QPushButton("Cancel", self.box)
        self.cancel_button.clicked.connect(self._on_cancel_button_clicked)
        self.progress = ProgressBar(self.box)
        self.progress.setTextVisible(True)
        row = QHBoxLayout()
        row.addWidget(self.download_button)
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        form.addRow(row)
        self.banner = MessageBanner(self.box)
        form.addRow(self.banner)
        self._set_downloading(False)

        self.stage_table = QTableWidget(0, 4, parent)
        self.stage_table.setHorizontalHeaderLabels(["Stage", "Module", "Output", "Parameters"])
        self.stage_table.verticalHeader().hide()
        self.stage_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.stage_table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.stage_table.hide()
        self._fill_start_combo()

    # --- what the page asks

    def spec(self) -> ModelSpec:
        """The chosen architecture's spec: a loaded spec keeps its own name, a new one is named after it."""
        from cvstudio.core.models.torchvision_models import arch_spec

        return arch_spec(self.arch, self.weights, name=self.name or self.arch)

    def show_spec(self, spec: ModelSpec | None) -> None:
        """Follow a spec that came from elsewhere (a checkpoint, the window); keeps its arch and weights."""
        self.arch = spec.arch if spec is not None else None
        self.weights = spec.weights if spec is not None else None
        self.name = spec.name if spec is not None and spec.arch is not None else None
        self.arch_combo.setCurrentIndex(max(0, self.arch_combo.findData(self.arch)))
        self._fill_start_combo()
        self.stage_table.setVisible(self.arch is not None)

    def refresh(self, input_shape: tuple[int, int, int], num_classes: int) -> None:
        """Summarize the architecture for this input in the background; ``summarized`` or ``failed`` follow."""
        spec = self.spec()
        self.tasks.start(arch_overview, spec, tuple(input_shape), num_classes, key=_OVERVIEW,
                         on_result=self._on_overview_result, on_error=self._on_overview_error)

    # --- slots

    def _on_arch_combo_activated(self, _index: int) -> None:
        arch = self.arch_combo.currentData()
        if arch == self.arch:
            return
        self.arch, self.name = arch, None
        self.weights = None
        self.stage_table.setVisible(arch is not None)
        self._fill_start_combo()
        if self.state.model_init is not None and getattr(self.state.model_init, "pretrained", False):
            self.state.set_model_init(None)
        self.chosen.emit(arch)

    def _on_start_combo_activated(self, _index: int) -> None:
        kind, _, value = str(self.start_combo.currentData()).partition(":")
        self.banner.clear()
        if kind in (WEIGHTS_FILE, CHECKPOINT) and not value:
            self._ask_for_file(kind)
            return
        self.weights = value if kind == PRETRAINED else None
        if kind not in (WEIGHTS_FILE, CHECKPOINT):
            self._file = None
        self._set_init(kind)
        self.chosen.emit(self.arch)  # the spec's weights name changed: summary and code follow

    def _ask_for_file(self, kind: str) -> None:
        caption, filters = (("Start from a weights file", "Weights (*.pth *.pt *.safetensors)") if kind == WEIGHTS_FILE
                            else ("Start from a CV Studio checkpoint", "Checkpoints (*.safetensors)"))
        path, _ = QFileDialog.getOpenFileName(self.box, caption, "", filters)
        if not path:
            self._select_current_start()
            return
        shape = tuple(self.state.dataset.input_shape) if self.state.dataset is not None else (3, 224, 224)
        classes = int(self.state.dataset.num_classes) if self.state.dataset is not None else 2
        self.check_file(kind, path, shape, classes)

    def check_file(self, kind: str, path: str, input_shape: tuple[int, int, int], num_classes: int) -> None:
        """Check ``path`` fits the current network in the background; only then is it the start."""
        spec = self.spec() if self.arch else self.state.spec
        if spec is None:
            self.banner.show_message("Choose a network first.", ERROR)
            return
        self.info_label.setText(f"Checking {Path(path).name}…")
        self.tasks.start(check_start_file, kind, path, spec, tuple(input_shape), num_classes, key=_CHECK,
                         on_result=lambda note: self._on_file_checked(kind, path, note),
                         on_error=self._on_file_error)

    def _on_file_checked(self, kind: str, path: str, note: str) -> None:
        self._file = (kind, path)
        self.weights = None
        self._fill_start_combo()
        self._set_init(kind)
        self.banner.show_message(f"The next run starts from {Path(path).name}: {note}.", INFO)
        self.chosen.emit(self.arch)

    def _on_file_error(self, error: TaskError) -> None:
        self.banner.show_message(error.message, ERROR)
        self._select_current_start()
        self._update_info()

    def _on_download_button_clicked(self) -> None:
        if not self.arch:
            return
        self._set_downloading(True)
        self.tasks.start(download_pretrained, self.arch, self.weights, key=_DOWNLOAD, pass_control=True,
                         pass_callbacks=True, on_progress=self._on_download_progress,
                         on_result=self._on_download_result, on_error=self._on_download_error,
                         on_finished=lambda: self._set_downloading(False))

    def _on_cancel_button_clicked(self) -> None:
        self.tasks.cancel(_DOWNLOAD)

    def _on_download_progress(self, event: Any) -> None:
        if event.total:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * event.done / event.total))
            self.progress.setFormat(f"{event.done / 2**20:,.1f} of {event.total / 2**20:,.1f} MB")
        else:
            self.progress.setRange(0, 0)

    def _on_download_result(self, path: str) -> None:
        self.banner.show_message(f"Downloaded {Path(path).name}.", INFO)
        self.chosen.emit(self.arch)  # the overview says it is there now

    def _on_download_error(self, error: TaskError) -> None:
        from cvstudio.core.errors import Cancelled

        if isinstance(error.exception, Cancelled):
            self.banner.show_message("Download cancelled; nothing was kept.", INFO)
        else:
            self.banner.show_message(error.message, ERROR)

    def _on_overview_result(self, overview: ArchOverview) -> None:
        self._shown = overview
        self._fill_start_combo()
        self._update_info()
        self.stage_table.setRowCount(len(overview.stages))
        for i, (name, module, shape, params, _head) in enumerate(overview.stages):
            for j, value in enumerate((name, module, shape, f"{params:,}")):
                item = QTableWidgetItem(value)
                if j == 3:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.stage_table.setItem(i, j, item)
        self.stage_table.resizeColumnsToContents()
        if overview.error:
            self.failed.emit(overview.error)
        else:
            self.summarized.emit(overview)

    def _on_overview_error(self, error: TaskError) -> None:
        self.failed.emit(error.message)

    # --- helpers

    def _set_init(self, kind: str) -> None:
        from cvstudio.core.runs import ModelInit

        if kind == PRETRAINED:
            self.state.set_model_init(ModelInit(pretrained=True))
        elif kind == WEIGHTS_FILE and self._file:
            self.state.set_model_init(ModelInit(weights_file=self._file[1]))
        elif kind == CHECKPOINT and self._file:
            self.state.set_model_init(ModelInit(init_from=self._file[1]))
        else:
            self.state.set_model_init(None)
        self._update_info()

    def _fill_start_combo(self) -> None:
        self.start_combo.blockSignals(True)
        self.start_combo.clear()
        self.start_combo.addItem("Random weights (from the seed)", f"{RANDOM}:")
        if self.arch:
            names = self._shown.weights_names if self._shown and self._shown.spec.arch == self.arch else ("DEFAULT",)
            for name in names:
                self.start_combo.addItem(f"torchvision {name} (pretrained)", f"{PRETRAINED}:{name}")
        if self._file:
            self.start_combo.addItem(Path(self._file[1]).name, ":".join(self._file))
        self.start_combo.addItem("A weights file (.pth, .safetensors)…", f"{WEIGHTS_FILE}:")
        self.start_combo.addItem("A CV Studio checkpoint…", f"{CHECKPOINT}:")
        self.start_combo.blockSignals(False)
        self._select_current_start()

    def _select_current_start(self) -> None:
        init = self.state.model_init
        want = f"{RANDOM}:"
        if self.weights:
            want = f"{PRETRAINED}:{self.weights}"
        elif init is not None and (init.weights_file or init.init_from) and self._file:
            want = ":".join(self._file)
        index = self.start_combo.findData(want)
        self.start_combo.setCurrentIndex(max(0, index))

    def _update_info(self) -> None:
        o = self._shown
        pretrained = bool(self.weights) and self.arch is not None
        lines = []
        if self.arch and o is not None and o.spec.arch == self.arch:
            data = "×".join(map(str, o.input_shape[1:]))
            same = o.input_shape[1:] == (o.default_size, o.default_size)
            lines.append(f"torchvision's weights were made for {o.default_size}×{o.default_size} images"
                         + (", as the data is." if same else f"; the data is {data} (image size: Data page)."))
            if pretrained:
                lines.append(f"Weights file: {o.weights_path} ({'downloaded' if o.weights_ready else 'not downloaded yet'}).")
        self.info_label.setText(" ".join(lines))
        can_download = pretrained and o is not None and not o.weights_ready
        self.download_button.setVisible(bool(self.arch))
        self.download_button.setEnabled(can_download and not self.tasks.busy(_DOWNLOAD))

    def _set_downloading(self, running: bool) -> None:
        self.progress.setVisible(running)
        self.cancel_button.setVisible(running)
        if running:
            self.progress.setRange(0, 0)
        self.download_button.setEnabled(not running)
        if not running:
            self._update_info()


class ArchitectureMode:
    """The ModelPage's side of the chooser (a mixin: it uses the page's table, banner, code view and state)."""


    def _show_arch_mode(self) -> None:
        """Architectures have stages, not editable layers: swap the layer table and preset boxes for the stages."""
        on = self.arch.arch is not None
        for widget in (self.table, self.add_button, self._preset_box, self._size_box,
                       *self.layers_box.findChildren(QToolButton)):
            widget.setVisible(not on)
        self.arch.stage_table.setVisible(on)
        self.dropout_spin.setEnabled(not on)
        self.batchnorm_check.setEnabled(not on and not (self._knobs and self._knobs.preset in ("convnet-batchnorm", "resnet")))

    @Slot(object)
    def _on_arch_chosen(self, arch) -> None:
        was_arch = self.state.spec is not None and self.state.spec.arch is not None
        self._show_arch_mode()
        if arch is None and was_arch:  # back to the layer presets
            from cvstudio.gui.pages.model import DEFAULT_PRESET

            self._custom_name = "custom"
            knobs = self._knobs_from_widgets() or self._default_knobs(DEFAULT_PRESET)
            self._generated = None
            self._regenerate(knobs)
            return
        if arch is not None:
            self.code_view.set_default_name(f"{arch}.py")
        self.refresh_now()

    @Slot(object)
    def _on_arch_summarized(self, overview) -> None:
        from cvstudio.gui.pages.model import _bytes_text as bytes_text

        spec = self.current_spec()
        if overview.spec != spec or overview.input_shape != self._input_shape:
            return  # an older request
        self.banner.clear()
        self.total_label.setText(
            f"{overview.total_params:,} trainable parameters  ·  {bytes_text(4 * overview.total_params)} as float32  ·  "
            f"output: {self._num_classes} scores"
        )
        self.code_view.set_code(overview.code, f"{spec.arch} from torchvision with its head replaced for "
                                               f"{self._num_classes} classes")
        self.state.set_spec(spec)
        if self.state.spec_error is not None:
            self.state.set_spec_error(None)

    @Slot(str)
    def _on_arch_failed(self, message: str) -> None:
        if self.arch.arch is not None:
            self._show_spec_error(SpecError(message))


__all__ = ["ArchOverview", "ArchitectureChooser", "ArchitectureMode", "arch_overview", "check_start_file", "download_pretrained"]
