"""The Model page: pick a preset, edit its layers, see shapes, parameters and the PyTorch code.

Every edit re-plans the network with the core's ``summarize`` (a meta-device
pass: no weights are allocated, so it is cheap enough for the GUI thread),
debounced while typing. A network that cannot work highlights the layer the
core names and explains why; ``AppState.spec_error`` tells the rest of the
window not to train it. A valid network becomes ``AppState.spec``.

The core's model modules import torch, so they are imported only once
``AppState.torch_ready`` has fired; until then the page shows a loading note.
"""

from __future__ import annotations

import dataclasses

from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtGui import QAction, QFont, QKeySequence, QUndoStack
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from cvstudio.core.errors import SpecError
from cvstudio.core.specs import LAYER_KINDS, LayerSpec, ModelSpec
from cvstudio.gui.pages import model_files
from cvstudio.gui.pages.base import Page
from cvstudio.gui.pages.model_knobs import (
    DEPTH_LABELS,
    DEPTH_TIPS,
    WIDTH_LABELS,
    WIDTH_TIPS,
    Knobs,
    infer_knobs,
    preset_family,
)
from cvstudio.gui.pages.model_history import BuilderHistory, BuilderSnapshot, train_values
from cvstudio.gui.pages.model_arch import ArchitectureChooser, ArchitectureMode
from cvstudio.gui.state import AppState
from cvstudio.gui.widgets.banner import ERROR, INFO, MessageBanner
from cvstudio.gui.widgets.code_view import CodeView
from cvstudio.gui.widgets.inputs import ScientificSpinBox
from cvstudio.gui.widgets.labels import HintLabel
from cvstudio.gui.widgets.layer_table import (
    HEADERS,
    KIND_HELP,
    KIND_LABELS,
    LayerTable,
    LayerTableModel,
    RowSummary,
    default_layer,
)

DEFAULT_INPUT_SHAPE = (3, 32, 32)  # until a dataset is loaded
DEFAULT_NUM_CLASSES = 2
SUMMARY_DELAY_MS = 150  # debounce of the live summary while typing
EDITED_SUFFIX = "-edited"  # spec name of a preset changed by hand, e.g. "convnet-edited"
DEFAULT_PRESET = "convnet"

LOSS_LABELS = {"cross_entropy": "Cross-entropy", "nll": "NLL (after LogSoftmax)"}


def _shape_text(shape) -> str:
    return "×".join(str(s) for s in shape)


def _bytes_text(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n} bytes"


_KNOB_WORDS = {"width": "width", "depth": "depth", "dropout": "dropout", "batchnorm": "batch norm"}


class ModelPage(ArchitectureMode, Page):
    """Model builder: presets, an editable layer table, a live summary and the generated code."""

    title = "Model"
    loading_detail = "The model builder opens as soon as PyTorch has been imported."

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(state, parent)
        self._presets: dict = {}  # name -> PresetInfo, once torch is ready
        self._knobs: Knobs | None = None  # what generated the layers last
        self._generated: tuple[tuple[LayerSpec, ...], str] | None = None  # (layers, loss) the knobs made
        self._loss = "cross_entropy"
        self._custom_name = "custom"  # name of a loaded network that no preset generated
        self._input_shape: tuple[int, int, int] = DEFAULT_INPUT_SHAPE
        self._num_classes = DEFAULT_NUM_CLASSES
        self._input_known = False  # from a dataset, not the default
        self._ready = False

        self._summary_timer = QTimer(self)
        self._summary_timer.setSingleShot(True)
        self._summary_timer.setInterval(SUMMARY_DELAY_MS)
        self._summary_timer.timeout.connect(self._on_summary_timer_timeout)

        # every edit is a command: the main window's Edit menu undoes the stack of the page on screen
        self.undo_stack = QUndoStack(self)
        self.history = BuilderHistory(self.undo_stack, self.snapshot, self.restore,
                                      lambda: self.state.train_config, self._restore_train_values)
        self._pending_edit: tuple[str, object] | None = None  # (command text, merge key) of a table action

        self._build_ui()

        state.torch_ready.connect(self._on_state_torch_ready)
        state.spec_changed.connect(self._on_state_spec_changed)
        state.dataset_changed.connect(self._on_state_dataset_changed)
        state.train_config_changed.connect(self._on_state_train_config_changed)
        state.training_changed.connect(self._on_state_training_changed)
        self._on_state_train_config_changed(state.train_config)
        if state.dataset is not None:
            self._on_state_dataset_changed(state.dataset)
        if state.torch_loaded:
            self._on_state_torch_ready()

    # ------------------------------------------------------------------ UI

    def _build_ui(self) -> None:
        self.build_loading_stack()

        self._controls = self._build_controls()
        controls_scroll = self.settings_column(self._controls, self._content)

        self.layers_box = self._build_layers_box()
        self.code_box = QGroupBox("PyTorch code", self._content)
        self.code_view = CodeView(self.code_box)
        code_layout = QVBoxLayout(self.code_box)
        code_layout.addWidget(self.code_view)

        self.right_splitter = QSplitter(Qt.Orientation.Vertical, self._content)
        self.right_splitter.addWidget(self.layers_box)
        self.right_splitter.addWidget(self.code_box)
        self.right_splitter.setChildrenCollapsible(False)
        self.right_splitter.setStretchFactor(0, 3)
        self.right_splitter.setStretchFactor(1, 2)
        self.right_splitter.setSizes([460, 300])

        self.splitter = QSplitter(Qt.Orientation.Horizontal, self._content)
        self.splitter.addWidget(controls_scroll)
        self.splitter.addWidget(self.right_splitter)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([300, 940])

        layout = QVBoxLayout(self._content)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.addWidget(self.splitter)
        self._update_input_label()

    def _build_controls(self) -> QWidget:
        panel = QWidget()
        layout = QVBoxLayout(panel)
        layout.setContentsMargins(0, 0, 6, 0)
        layout.setSpacing(10)

        # --- torchvision architectures and starting weights (issue 13; pages/model_arch.py)
        self.arch = ArchitectureChooser(self.state, self.tasks, panel)
        self.arch.chosen.connect(self._on_arch_chosen)
        self.arch.summarized.connect(self._on_arch_summarized)
        self.arch.failed.connect(self._on_arch_failed)
        layout.addWidget(self.arch.box)

        preset_box = QGroupBox("Preset", panel)
        box_layout = QVBoxLayout(preset_box)
        box_layout.setSpacing(6)
        self.preset_combo = QComboBox(preset_box)
        self.preset_combo.setToolTip("A network from the cheatsheet (or beyond it) to start from")
        self.preset_combo.activated.connect(self._on_preset_combo_activated)
        self.description_label = HintLabel("", preset_box)
        self.description_label.setMinimumWidth(200)
        self.loss_combo = QComboBox(preset_box)
        for loss, label in LOSS_LABELS.items():
            self.loss_combo.addItem(label, loss)
        self.loss_combo.setToolTip(
            "Cross-entropy takes raw scores; NLL takes log-probabilities, so the network must end with LogSoftmax"
        )
        self.loss_combo.activated.connect(self._on_loss_combo_activated)
        self.reset_button = QPushButton("Re-generate layers", preset_box)
        self.reset_button.setToolTip("Replace the layer table with the preset at the width, depth and regularization set here")
        self.reset_button.clicked.connect(self._on_reset_button_clicked)
        grid = QGridLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(6)
        grid.addWidget(QLabel("Network", preset_box), 0, 0)
        grid.addWidget(self.preset_combo, 0, 1)
        grid.addWidget(self.description_label, 1, 0, 1, 2)
        grid.addWidget(QLabel("Loss", preset_box), 2, 0)
        grid.addWidget(self.loss_combo, 2, 1)
        grid.setColumnStretch(1, 1)
        box_layout.addLayout(grid)
        box_layout.addWidget(self.reset_button)
        layout.addWidget(preset_box)
        self._preset_box = preset_box

        size_box = QGroupBox("Size", panel)
        self._size_form = QFormLayout(size_box)
        self.width_spin = QSpinBox(size_box)
        self.width_spin.setRange(1, 4096)
        self.width_spin.setKeyboardTracking(False)
        self.width_spin.valueChanged.connect(self._on_width_spin_value_changed)
        self.depth_spin = QSpinBox(size_box)
        self.depth_spin.setRange(1, 12)
        self.depth_spin.setKeyboardTracking(False)
        self.depth_spin.valueChanged.connect(self._on_depth_spin_value_changed)
        self._size_form.addRow("Width", self.width_spin)
        self._size_form.addRow("Depth", self.depth_spin)
        layout.addWidget(size_box)
        self._size_box = size_box

        reg_box = QGroupBox("Regularization", panel)
        reg = QFormLayout(reg_box)
        self.dropout_spin = QDoubleSpinBox(reg_box)
        self.dropout_spin.setRange(0.0, 0.9)
        self.dropout_spin.setDecimals(2)
        self.dropout_spin.setSingleStep(0.05)
        self.dropout_spin.setSpecialValueText("off")
        self.dropout_spin.setKeyboardTracking(False)
        self.dropout_spin.setToolTip("Dropout after each pooling layer and hidden activation (nn.Dropout)")
        self.dropout_spin.valueChanged.connect(self._on_dropout_spin_value_changed)
        reg.addRow("Dropout p", self.dropout_spin)
        self.batchnorm_check = QCheckBox("after each conv / hidden linear", reg_box)
        self.batchnorm_check.setToolTip("nn.BatchNorm2d / BatchNorm1d after each convolution and hidden linear layer")
        self.batchnorm_check.toggled.connect(self._on_batchnorm_check_toggled)
        reg.addRow("Batch norm", self.batchnorm_check)
        self.l1_spin = ScientificSpinBox(reg_box, minimum_positive=1e-6, maximum=1.0, allow_zero=True)
        self.l1_spin.setToolTip("L1 penalty: loss += weight × Σ|w| over all parameters (a training setting)")
        self.l1_spin.valueChanged.connect(self._on_l1_spin_value_changed)
        reg.addRow("L1 weight", self.l1_spin)
        self.weight_decay_spin = ScientificSpinBox(reg_box, minimum_positive=1e-6, maximum=1.0, allow_zero=True)
        self.weight_decay_spin.setToolTip("L2 penalty applied by the optimizer (weight_decay; a training setting)")
        self.weight_decay_spin.valueChanged.connect(self._on_weight_decay_spin_value_changed)
        reg.addRow("Weight decay (L2)", self.weight_decay_spin)
        hint = HintLabel("Dropout and batch norm add layers; L1 and weight decay are training settings used by the next run.", reg_box)
        reg.addRow(hint)
        layout.addWidget(reg_box)
        layout.addStretch(1)
        return panel

    def _build_layers_box(self) -> QGroupBox:
        box = QGroupBox("Layers", self._content)
        self.table_model = LayerTableModel(self)
        self.table_model.layers_edited.connect(self._on_table_model_layers_edited)
        self.table = LayerTable(box)
        self.table.setModel(self.table_model)
        self.table.selectionModel().currentRowChanged.connect(self._on_table_current_row_changed)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)

        style = self.style()
        self.add_menu = QMenu("Add layer", self)
        for kind in LAYER_KINDS:
            action = self.add_menu.addAction(KIND_LABELS[kind])
            action.setToolTip(KIND_HELP[kind])
            action.setData(kind)
        self.add_menu.setToolTipsVisible(True)
        self.add_menu.triggered.connect(self._on_add_menu_triggered)

        def make_action(text: str, shortcut, tip: str, slot, icon=None) -> QAction:
            action = QAction(text, self)
            if icon is not None:
                action.setIcon(style.standardIcon(icon))
            keys = [QKeySequence(s) for s in (shortcut if isinstance(shortcut, (list, tuple)) else [shortcut])]
            action.setShortcuts(keys)
            action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)  # not while a cell editor has focus
            action.setToolTip(f"{tip} ({keys[0].toString(QKeySequence.SequenceFormat.NativeText)})")
            action.triggered.connect(slot)
            self.table.addAction(action)
            return action

        self.add_action = make_action("Add layer…", "Ins", "Insert a layer after the selected one", self._on_add_action_triggered)
        self.duplicate_action = make_action("Duplicate", "Ctrl+D", "Duplicate the selected layer", self._on_duplicate_action_triggered)
        self.remove_action = make_action(
            "Remove", ["Del", "Backspace"], "Remove the selected layer", self._on_remove_action_triggered,
            QStyle.StandardPixmap.SP_DialogDiscardButton,
        )
        self.move_up_action = make_action(
            "Up", ["Ctrl+Up", "Alt+Up"], "Move the selected layer up", self._on_move_up_action_triggered,
            QStyle.StandardPixmap.SP_ArrowUp,
        )
        self.move_down_action = make_action(
            "Down", ["Ctrl+Down", "Alt+Down"], "Move the selected layer down", self._on_move_down_action_triggered,
            QStyle.StandardPixmap.SP_ArrowDown,
        )

        self.add_button = QPushButton("Add layer", box)
        self.add_button.setToolTip("Insert a layer after the selected one (Ins)")
        self.add_button.setMenu(self.add_menu)
        toolbar = QHBoxLayout()
        toolbar.setSpacing(4)
        toolbar.addWidget(self.add_button)
        for action in (self.duplicate_action, self.remove_action, self.move_up_action, self.move_down_action):
            button = QToolButton(box)
            button.setDefaultAction(action)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            toolbar.addWidget(button)
        self.file_button = model_files.make_file_button(self, box)
        toolbar.addWidget(self.file_button)
        toolbar.addStretch(1)
        self.input_label = HintLabel("", box)
        self.input_label.setWordWrap(False)
        toolbar.addWidget(self.input_label)

        self.banner = MessageBanner(box, closable=False)
        self.training_banner = MessageBanner(box, closable=False)
        self.total_label = QLabel(box)
        font = QFont(self.total_label.font())
        font.setBold(True)
        self.total_label.setFont(font)
        self.total_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.total_label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)

        layout = QVBoxLayout(box)
        layout.setSpacing(6)
        layout.addWidget(self.training_banner)
        layout.addLayout(toolbar)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.arch.stage_table, 1)
        layout.addWidget(self.banner)
        layout.addWidget(self.total_label)
        self._update_actions()
        return box

    # ------------------------------------------------------------------ public

    def current_spec(self) -> ModelSpec:
        """The spec the table shows now (it may not be buildable: see ``state.spec_error``)."""
        if self.arch.arch is not None:  # a torchvision architecture keeps its arch and weights
            return self.arch.spec()
        return ModelSpec(name=self._spec_name(), layers=self.table_model.layers, loss=self._loss)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self._input_shape

    @property
    def num_classes(self) -> int:
        return self._num_classes

    def refresh_now(self) -> None:
        """Recompute the summary at once instead of after the typing pause."""
        self._summary_timer.stop()
        self._refresh_summary()

    def load_architecture(self, spec: ModelSpec, text: str) -> bool:
        """Show ``spec`` (from an architecture file or a checkpoint) as one undoable edit; False if refused."""
        if self.state.training:
            self.banner.show_message("A run is training: load the architecture once it ends.", ERROR)
            return False
        if spec.arch is not None:
            self.banner.show_message(f"{spec.name} is torchvision's {spec.arch}: the model builder edits networks "
                                     "made of layers.", ERROR)
            return False
        self._load_spec(spec)
        self.history.record(text)
        return True

    # ------------------------------------------------------------------ undo

    def snapshot(self) -> BuilderSnapshot:
        return BuilderSnapshot(self._knobs, self._generated, self._loss, self.table_model.layers,
                               self._custom_name, self.table.current_row())

    def restore(self, snap: BuilderSnapshot) -> None:
        """Show a snapshot again (undo / redo)."""
        self._knobs, self._generated, self._custom_name = snap.knobs, snap.generated, snap.custom_name
        if snap.knobs is not None:
            self._show_knobs(snap.knobs)
        else:
            self.description_label.setText(f"{snap.custom_name}: a network loaded as it was saved, not from a preset.")
        self._set_loss(snap.loss)
        self.table_model.set_layers(snap.layers)
        self.table.select_row(min(snap.row, self.table_model.rowCount() - 1))
        self._update_actions()
        self.code_view.set_default_name(f"{self._spec_name()}.py")
        self.refresh_now()

    def _sync_undo_active(self, visible: bool) -> None:
        """The window's Edit menu follows this page's stack while it is on screen and no run is training."""
        self.undo_stack.setActive(visible and not self.state.training)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        self._sync_undo_active(True)

    def hideEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().hideEvent(event)
        self._sync_undo_active(False)

    # ------------------------------------------------------------------ state signals

    @Slot()
    def _on_state_torch_ready(self) -> None:
        if self._ready:
            return
        from cvstudio.core.models import PRESETS

        self._presets = dict(PRESETS)
        self.preset_combo.clear()
        for name, info in self._presets.items():
            self.preset_combo.addItem(name, name)
            self.preset_combo.setItemData(self.preset_combo.count() - 1, info.description, Qt.ItemDataRole.ToolTipRole)
        self._ready = True
        self.show_content()
        if self.state.spec is not None:
            self._load_spec(self.state.spec)
        else:
            self._show_knobs(self._default_knobs(DEFAULT_PRESET))
            self._regenerate(self._default_knobs(DEFAULT_PRESET))
        self.history.reset()

    @Slot(object)
    def _on_state_spec_changed(self, spec) -> None:
        if self._ready and spec is not None and spec != self.current_spec():
            self._load_spec(spec)
            self.history.record(f"Load network {spec.name}")

    @Slot(object)
    def _on_state_dataset_changed(self, bundle) -> None:
        if bundle is None:  # loading: keep the last known input shape meanwhile
            self._update_input_label(loading=True)
            return
        self._input_shape = tuple(int(s) for s in bundle.input_shape)
        self._num_classes = int(bundle.num_classes)
        self._input_known = True
        self.table_model.set_num_classes(self._num_classes)
        self._update_input_label()
        if self._ready:
            self.refresh_now()

    @Slot(object)
    def _on_state_train_config_changed(self, config) -> None:
        for spin, value in ((self.l1_spin, config.l1), (self.weight_decay_spin, config.weight_decay)):
            if spin.value() != value:
                spin.blockSignals(True)
                spin.setValue(value)
                spin.blockSignals(False)

    @Slot(bool)
    def _on_state_training_changed(self, running: bool) -> None:
        self._sync_undo_active(self.isVisible())
        self.file_button.setEnabled(not running)
        self._controls.setEnabled(not running)
        self.table_model.set_read_only(running)
        self.add_button.setEnabled(not running)
        self._update_actions()
        if running:
            self.training_banner.show_message("A run is training: the model cannot change until it ends.", INFO)
        else:
            self.training_banner.clear()

    # ------------------------------------------------------------------ controls

    @Slot(int)
    def _on_preset_combo_activated(self, _index: int) -> None:
        name = self.preset_combo.currentData()
        if not name or (self._knobs is not None and name == self._knobs.preset and not self._edited()):
            return
        knobs = self._default_knobs(name)
        train_before = train_values(self.state.train_config)
        if not self._apply_knobs(knobs):
            return
        self._record_preset(name, train_before)

    @Slot(int)
    def _on_width_spin_value_changed(self, _value: int) -> None:
        self._on_knob_edited()

    @Slot(int)
    def _on_depth_spin_value_changed(self, _value: int) -> None:
        self._on_knob_edited()

    @Slot(float)
    def _on_dropout_spin_value_changed(self, _value: float) -> None:
        self._on_knob_edited()

    @Slot(bool)
    def _on_batchnorm_check_toggled(self, _checked: bool) -> None:
        self._on_knob_edited()

    def _record_preset(self, name: str, train_before: dict) -> None:
        """Once the preset's training settings are applied too: one command for both."""
        info = self._presets[name]
        momentum = info.momentum if self.state.train_config.optimizer == "sgd" else self.state.train_config.momentum
        config = dataclasses.replace(
            self.state.train_config, lr=info.lr, momentum=momentum, weight_decay=info.weight_decay,
            nesterov=self.state.train_config.nesterov and momentum > 0,
        )
        if config != self.state.train_config:
            self.state.set_train_config(config)
            self.state.status_message.emit(
                f"Preset {name}: learning rate {info.lr:g}, momentum {momentum:g}, "
                f"weight decay {info.weight_decay:g}"
            )
        self.history.record(f"Choose preset {name}", train_before=train_before)

    @Slot()
    def _on_reset_button_clicked(self) -> None:
        knobs = self._knobs_from_widgets()
        if knobs is not None and (not self._edited() or self._confirm_discard_edits()):
            self._regenerate(knobs)
            self.history.record("Re-generate layers")

    @Slot(int)
    def _on_loss_combo_activated(self, _index: int) -> None:
        loss = self.loss_combo.currentData()
        if loss != self._loss:
            self._loss = loss
            self._summary_timer.start()
            self.history.record(f"Change loss to {LOSS_LABELS.get(loss, loss)}")

    @Slot(float)
    def _on_l1_spin_value_changed(self, value: float) -> None:
        self._set_train_value("Change L1 weight", l1=float(value))

    @Slot(float)
    def _on_weight_decay_spin_value_changed(self, value: float) -> None:
        self._set_train_value("Change weight decay", weight_decay=float(value))

    def _set_train_value(self, text: str, **changes) -> None:
        before = train_values(self.state.train_config)
        try:
            config = dataclasses.replace(self.state.train_config, **changes)
        except Exception as exc:  # noqa: BLE001 - a ConfigError explains a bad value
            self.banner.show_message(str(exc), ERROR)
            return
        self.state.set_train_config(config)
        self.history.record(text, merge_key=("train", *changes), train_before=before)

    def _restore_train_values(self, values: dict) -> None:
        try:
            config = dataclasses.replace(self.state.train_config, **values)
        except Exception as exc:  # noqa: BLE001 - a ConfigError explains a bad value
            self.banner.show_message(str(exc), ERROR)
            return
        self.state.set_train_config(config)

    # ------------------------------------------------------------------ table

    @Slot()
    def _on_table_model_layers_edited(self) -> None:
        self._update_actions()
        self._summary_timer.start()
        text, key = self._pending_edit or self._cell_edit_text()
        self._pending_edit = None
        self.history.record(text, merge_key=key)

    def _cell_edit_text(self) -> tuple[str, object]:
        edit = self.table_model.last_edit
        if edit and edit[0] == "set":
            _, row, col = edit
            return f"Change {HEADERS[col].lower()} of layer {row + 1}", ("cell", row, col)
        return "Edit layers", None

    def _table_edit(self, text: str) -> None:
        """Name the command of the table action about to run (its layers_edited records it)."""
        self._pending_edit = (text, None)

    @Slot(object, object)
    def _on_table_current_row_changed(self, _current, _previous) -> None:
        self._update_actions()

    @Slot(QAction)
    def _on_add_menu_triggered(self, action: QAction) -> None:
        self.add_layer(action.data())

    @Slot()
    def _on_add_action_triggered(self) -> None:
        rect = self.table.visualRect(self.table.currentIndex())
        pos = self.table.viewport().mapToGlobal(rect.bottomLeft() if rect.isValid() else self.table.rect().center())
        self.add_menu.popup(pos)

    def add_layer(self, kind: str) -> int:
        """Insert a new ``kind`` layer after the selected row (before the output layer when none is)."""
        row = self.table.current_row()
        n = self.table_model.rowCount()
        at = row + 1 if row >= 0 else max(0, n - 1)
        self._table_edit(f"Add {KIND_LABELS.get(kind, kind)} layer")
        at = self.table_model.insert_layer(at, default_layer(kind))
        self.table.select_row(at)
        return at

    @Slot()
    def _on_duplicate_action_triggered(self) -> None:
        row = self.table.current_row()
        if row >= 0:
            self._table_edit(f"Duplicate layer {row + 1}")
            at = self.table_model.insert_layer(row + 1, self.table_model.layers[row])
            self.table.select_row(at)

    @Slot()
    def _on_remove_action_triggered(self) -> None:
        row = self.table.current_row()
        if row >= 0:
            self._table_edit(f"Remove layer {row + 1}")
            self.table_model.remove_layer(row)
            self.table.select_row(min(row, self.table_model.rowCount() - 1))

    @Slot()
    def _on_move_up_action_triggered(self) -> None:
        self._move_current(-1)

    @Slot()
    def _on_move_down_action_triggered(self) -> None:
        self._move_current(+1)

    def _move_current(self, delta: int) -> None:
        row = self.table.current_row()
        if row >= 0 and 0 <= row + delta < self.table_model.rowCount():
            self._table_edit(f"Move layer {row + 1} {'up' if delta < 0 else 'down'}")
            self.table.select_row(self.table_model.move_layer(row, delta))

    def _update_actions(self) -> None:
        row = self.table.current_row()
        n = self.table_model.rowCount()
        editable = not self.table_model.read_only
        self.add_action.setEnabled(editable)
        self.duplicate_action.setEnabled(editable and row >= 0)
        self.remove_action.setEnabled(editable and row >= 0)
        self.move_up_action.setEnabled(editable and row > 0)
        self.move_down_action.setEnabled(editable and 0 <= row < n - 1)

    # ------------------------------------------------------------------ generating layers

    def _default_knobs(self, name: str) -> Knobs:
        info = self._presets[name]
        return Knobs(
            preset=name,
            width=info.width,
            depth=info.depth,
            dropout=0.4 if name == "convnet-dropout" else 0.0,
            batchnorm=name in ("convnet-batchnorm", "resnet"),
        )

    def _knobs_from_widgets(self) -> Knobs | None:
        name = self.preset_combo.currentData()
        if not name:
            return None
        return Knobs(name, self.width_spin.value(), self.depth_spin.value(), round(self.dropout_spin.value(), 4),
                     self.batchnorm_check.isChecked())

    def _show_knobs(self, knobs: Knobs) -> None:
        widgets = (self.preset_combo, self.width_spin, self.depth_spin, self.dropout_spin, self.batchnorm_check)
        for w in widgets:
            w.blockSignals(True)
        try:
            self.preset_combo.setCurrentIndex(max(0, self.preset_combo.findData(knobs.preset)))
            self.width_spin.setValue(knobs.width)
            self.depth_spin.setValue(knobs.depth)
            self.dropout_spin.setValue(knobs.dropout)
            self.batchnorm_check.setChecked(knobs.batchnorm)
        finally:
            for w in widgets:
                w.blockSignals(False)
        info = self._presets.get(knobs.preset)
        self.description_label.setText(info.description if info else "")
        family = preset_family(knobs.preset)
        self._size_form.labelForField(self.width_spin).setText(WIDTH_LABELS[family])
        self._size_form.labelForField(self.depth_spin).setText(DEPTH_LABELS[family])
        self.width_spin.setToolTip(WIDTH_TIPS[family])
        self.depth_spin.setToolTip(DEPTH_TIPS[family])
        forced = knobs.preset in ("convnet-batchnorm", "resnet")
        self.batchnorm_check.setEnabled(not forced)
        self.batchnorm_check.setToolTip(
            f"the {knobs.preset} preset always uses batch norm"
            if forced
            else "nn.BatchNorm2d / BatchNorm1d after each convolution and hidden linear layer"
        )

    def _on_knob_edited(self) -> None:
        knobs = self._knobs_from_widgets()
        if knobs is None or knobs == self._knobs:
            return
        old = self._knobs
        if self._apply_knobs(knobs):
            changed = [f.name for f in dataclasses.fields(Knobs) if old is None or getattr(old, f.name) != getattr(knobs, f.name)]
            field = changed[0] if len(changed) == 1 else "size"
            self.history.record(f"Change {_KNOB_WORDS.get(field, field)}", merge_key=("knob", field))

    def _apply_knobs(self, knobs: Knobs) -> bool:
        """Re-generate the layers from ``knobs``, asking first if that would discard hand edits."""
        if self._edited() and not self._confirm_discard_edits():
            if self._knobs is not None:
                self._show_knobs(self._knobs)
            return False
        self._show_knobs(knobs)
        return self._regenerate(knobs)

    def _regenerate(self, knobs: Knobs) -> bool:
        from cvstudio.core.models import get_preset

        try:
            spec = get_preset(knobs.preset, width=knobs.width, depth=knobs.depth, dropout=knobs.dropout,
                              batchnorm=knobs.batchnorm)
        except SpecError as exc:
            self.banner.show_message(str(exc), ERROR)
            return False
        self._knobs = knobs
        self._generated = (spec.layers, spec.loss)
        self._set_loss(spec.loss)
        self.table_model.set_layers(spec.layers)
        self._update_actions()
        self.code_view.set_default_name(f"{spec.name}.py")
        self.refresh_now()
        return True

    def _edited(self) -> bool:
        """True when the table differs from what the knobs generated (hand edits would be lost)."""
        if self._generated is None:
            return self.table_model.rowCount() > 0
        return (self.table_model.layers, self._loss) != self._generated

    def _confirm_discard_edits(self) -> bool:
        answer = QMessageBox.question(
            self,
            "Replace the edited layers?",
            "Re-generating the network from the preset replaces the layers you edited by hand.\n\nReplace them?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def _spec_name(self) -> str:
        if self._knobs is None:
            return self._custom_name  # a network that did not come from a preset keeps its name
        if self._generated is not None and not self._edited():
            return self._knobs.preset
        return self._knobs.preset + EDITED_SUFFIX

    def _set_loss(self, loss: str) -> None:
        self._loss = loss
        self.loss_combo.setCurrentIndex(max(0, self.loss_combo.findData(loss)))

    def _load_spec(self, spec: ModelSpec) -> None:
        """Show a spec that came from elsewhere (the main window, a checkpoint)."""
        self.arch.show_spec(spec)
        self._show_arch_mode()
        if spec.arch is not None:
            self._custom_name = spec.name
            self.code_view.set_default_name(f"{spec.name}.py")
            self.refresh_now()
            return
        base = spec.name.removesuffix(EDITED_SUFFIX)
        knobs = infer_knobs(spec, self._default_knobs(base)) if base in self._presets else None
        self._knobs = knobs
        self._custom_name = spec.name
        self._generated = None
        if knobs is not None:
            self._show_knobs(knobs)
            from cvstudio.core.models import get_preset

            try:
                generated = get_preset(base, width=knobs.width, depth=knobs.depth, dropout=knobs.dropout,
                                       batchnorm=knobs.batchnorm)
            except SpecError:
                generated = None
            if generated is not None:
                self._generated = (generated.layers, generated.loss)
        else:
            self.description_label.setText(f"{spec.name}: a network loaded as it was saved, not from a preset.")
        self._set_loss(spec.loss)
        self.table_model.set_layers(spec.layers)
        self._update_actions()
        self.code_view.set_default_name(f"{spec.name}.py")
        self.refresh_now()

    # ------------------------------------------------------------------ summary

    @Slot()
    def _on_summary_timer_timeout(self) -> None:
        self._refresh_summary()

    def _refresh_summary(self) -> None:
        if not self._ready:
            return
        if self.arch.arch is not None:  # summarized in the background: _on_arch_summarized / _on_arch_failed
            self.arch.refresh(self._input_shape, self._num_classes)
            return
        from cvstudio.core.models import summarize
        from cvstudio.core.models.codegen import model_source

        spec = self.current_spec()
        try:
            summary = summarize(spec, self._input_shape, self._num_classes)
            code = model_source(spec, self._input_shape, self._num_classes)
        except SpecError as exc:
            self._show_spec_error(exc)
            return
        except Exception as exc:  # noqa: BLE001 - the builder should only raise SpecError; never crash the page
            self._show_spec_error(SpecError(f"this network cannot be built: {type(exc).__name__}: {exc}"))
            return

        self.table_model.set_summary(self._summary_rows(summary))
        self.banner.clear()
        total = summary.total_params
        self.total_label.setText(
            f"{total:,} trainable parameters  ·  {_bytes_text(4 * total)} as float32  ·  "
            f"output: {self._num_classes} scores"
        )
        self.code_view.set_code(
            code,
            f"class Net ({spec.name}): the modules and names of the model CV Studio builds, "
            "so its state_dict loads into Net()",
        )
        self.state.set_spec(spec)
        if self.state.spec_error is not None:
            self.state.set_spec_error(None)

    def _summary_rows(self, summary) -> dict[int, RowSummary]:
        """Table rows (spec indices) from a ModelSummary; an inserted Flatten becomes a note on the next row."""
        rows: dict[int, RowSummary] = {}
        note = ""
        prev_shape = self._input_shape
        for layer in summary.layers:
            if layer.spec_index is None:  # a Flatten the builder inserted before a linear layer
                note = f"a Flatten is inserted before it: {_shape_text(prev_shape)} → {_shape_text(layer.out_shape)}"
            else:
                old = rows.get(layer.spec_index)
                params = layer.params + (old.params if old else 0)
                rows[layer.spec_index] = RowSummary(_shape_text(layer.out_shape), params, note)
                note = ""
            prev_shape = layer.out_shape
        return rows

    def _rows_before(self, row: int | None) -> dict[int, RowSummary]:
        """Shapes of the layers above a failing one, so the table shows how the input got there."""
        if not row:
            return {}
        from cvstudio.core.models import summarize

        layers = self.table_model.layers[:row]
        if any(l.kind == "logsoftmax" for l in layers):
            return {}
        # plan the working part with a provisional output layer appended (it is not shown)
        probe = ModelSpec("probe", layers + (LayerSpec("linear", out=None),))
        try:
            summary = summarize(probe, self._input_shape, self._num_classes)
        except Exception:  # noqa: BLE001 - a second problem above the first: show no shapes
            return {}
        return {i: r for i, r in self._summary_rows(summary).items() if i < row}

    def _show_spec_error(self, error: SpecError) -> None:
        row = error.layer_index
        self.table_model.set_error(row, str(error), self._rows_before(row))
        message = str(error)
        if message[:1].islower():
            message = message[0].upper() + message[1:]
        self.banner.show_message(message, ERROR)
        self.total_label.setText("The network cannot be built: fix the highlighted layer." if row is not None
                                 else "The network cannot be built.")
        self.code_view.set_unavailable(message)
        if row is not None and 0 <= row < self.table_model.rowCount() and not self.table.state() == LayerTable.State.EditingState:
            self.table.scrollTo(self.table_model.index(row, 0))
        old = self.state.spec_error
        if old is None or str(old) != str(error) or getattr(old, "layer_index", None) != row:
            self.state.set_spec_error(error)

    def _update_input_label(self, loading: bool = False) -> None:
        text = f"Input {_shape_text(self._input_shape)}, {self._num_classes} classes"
        if loading:
            text += " (a dataset is loading)"
        elif not self._input_known:
            text += " (default until a dataset is loaded)"
        self.input_label.setText(text)


__all__ = ["Knobs", "ModelPage"]


if __name__ == "__main__":
    raise SystemExit(ModelPage.preview())
