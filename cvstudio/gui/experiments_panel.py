"""Help > Experiments: the cheatsheet's experiments, each set up with one click.

The catalogue is data in :mod:`cvstudio.core.experiments`; this panel lists
it, explains the chosen experiment, and on "Set up" puts its dataset, network
and training settings into the app state (the pages follow the state), loads
the data through the Data page and shows the page to look at. An experiment on
CIFAR-10 first offers the download, or a folder that already holds it. When a
run of the experiment's network ends, its accuracies appear next to the ones
the cheatsheet reports; for the normalisation experiment, the mean and std the
app computed appear next to the cheatsheet's.

The window hands the panel two callables (``load_data(DataConfig) -> bool`` and
``show_page(title, focus)``) so the panel knows no page.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from cvstudio.core.experiments import EXPERIMENTS, Experiment, compare, get_experiment, missing_data
from cvstudio.gui import settings as prefs
from cvstudio.gui.state import AppState
from cvstudio.gui.widgets.banner import INFO, WARNING, MessageBanner
from cvstudio.gui.widgets.labels import HintLabel

KEY_ROLE = Qt.ItemDataRole.UserRole


def describe_setup(experiment: Experiment) -> str:
    """What "Set up" changes, in one short paragraph."""
    data = experiment.data
    if data.source == "shapes":
        what_data = "the built-in shapes (no download)"
    else:
        what_data = f"{data.source.upper().replace('CIFAR10', 'CIFAR-10')}: {' vs '.join(data.classes) or 'all classes'}"
    t = experiment.train
    train = (f"{t.optimizer.upper()} lr {t.lr:g}" + (f", momentum {t.momentum:g}" if t.momentum else "")
             + (f", weight decay {t.weight_decay:g}" if t.weight_decay else "") + (f", L1 {t.l1:g}" if t.l1 else "")
             + f", batch {t.batch_size}, {t.epochs} epochs" + (f", stop below loss {t.stop_loss:g}" if t.stop_loss else ""))
    model = experiment.preset + (f" with padding {experiment.padding}" if experiment.padding is not None else "")
    return f"Data: {what_data}\nNetwork: {model}\nTraining: {train}\nThen: the {experiment.page} page"


class ExperimentsPanel(QDialog):
    """A list of the experiments and, for the chosen one, its explanation, setup and results."""

    set_up_done = Signal(str)  # key of the experiment that was set up
    result_shown = Signal(str)  # the comparison line, once a run (or a dataset) of the experiment ended

    def __init__(
        self,
        state: AppState,
        load_data: Callable[[Any], bool],
        show_page: Callable[[str, str], None],
        parent: QWidget | None = None,
    ):
        super().__init__(parent)
        self.state = state
        self._load_data, self._show_page = load_data, show_page
        self.active: Experiment | None = None  # the experiment set up last
        self._run_of_active = False  # a run of the active experiment's network is training
        self.setObjectName("experimentsPanel")
        self.setWindowTitle("Experiments from the cheatsheet")
        self.setModal(False)
        self.resize(820, 520)
        self.setMinimumSize(640, 420)
        self._build()
        state.training_changed.connect(self._on_state_training_changed)
        state.dataset_changed.connect(self._on_state_dataset_changed)
        state.torch_ready.connect(self._update_buttons)
        self.list.setCurrentRow(0)

    # ------------------------------------------------------------------ UI

    def _build(self) -> None:
        self.list = QListWidget(self)
        self.list.setObjectName("experimentList")
        for i, experiment in enumerate(EXPERIMENTS, start=1):
            item = QListWidgetItem(f"{i}. {experiment.title}")
            item.setData(KEY_ROLE, experiment.key)
            item.setToolTip("Uses CIFAR-10 (downloaded once)" if experiment.needs_download else "Needs no download")
            self.list.addItem(item)
        self.list.currentItemChanged.connect(self._on_list_current_item_changed)
        self.list.itemActivated.connect(lambda _item: self.set_up())  # double-click or Enter

        details = QWidget(self)
        layout = QVBoxLayout(details)
        self.title_label = QLabel(details)
        font = self.title_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.25)
        font.setBold(True)
        self.title_label.setFont(font)
        self.explanation_label = QLabel(details)
        self.explanation_label.setWordWrap(True)
        self.explanation_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setup_label = HintLabel("", details)
        self.reported_label = QLabel(details)
        self.reported_label.setWordWrap(True)
        self.reported_label.setObjectName("reportedLabel")
        self.result_label = QLabel(details)
        self.result_label.setWordWrap(True)
        self.result_label.setObjectName("resultLabel")
        self.steps_label = HintLabel("", details)
        self.banner = MessageBanner(details)
        self.banner.hide()
        missing_row = QHBoxLayout()
        self.download_button = QPushButton("Download", details)
        self.download_button.clicked.connect(self.download)
        self.folder_button = QPushButton("Use a folder…", details)
        self.folder_button.setToolTip("A folder that already holds the dataset (e.g. from another computer)")
        self.folder_button.clicked.connect(self._on_folder_button_clicked)
        missing_row.addWidget(self.download_button)
        missing_row.addWidget(self.folder_button)
        missing_row.addStretch(1)
        for widget in (self.title_label, self.explanation_label, self.setup_label, self.reported_label,
                       self.result_label, self.steps_label, self.banner):
            layout.addWidget(widget)
        layout.addLayout(missing_row)
        layout.addStretch(1)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(details)

        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(self.list)
        splitter.addWidget(scroll)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([260, 560])
        splitter.setChildrenCollapsible(False)

        self.buttons = QDialogButtonBox(self)
        self.setup_button = self.buttons.addButton("Set up", QDialogButtonBox.ButtonRole.AcceptRole)
        self.setup_button.setDefault(True)
        self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.buttons.accepted.connect(self.set_up)  # keeps the panel open: the results come here later
        self.buttons.rejected.connect(self.close)

        outer = QVBoxLayout(self)
        outer.addWidget(splitter, 1)
        outer.addWidget(self.buttons)

    # ------------------------------------------------------------------ public API

    @property
    def current(self) -> Experiment:
        item = self.list.currentItem()
        return get_experiment(item.data(KEY_ROLE)) if item is not None else EXPERIMENTS[0]

    def select(self, key: str) -> None:
        for row in range(self.list.count()):
            if self.list.item(row).data(KEY_ROLE) == key:
                self.list.setCurrentRow(row)
                return
        raise KeyError(key)

    def set_up(self, key: str | None = None) -> bool:
        """Put the experiment's data, network and settings into the app; False (with the reason shown) if not now."""
        if key is not None:
            self.select(key)
        experiment = self.current
        why = self._blocker()
        if why:
            self.banner.show_message(why, WARNING)
            return False
        missing = missing_data(experiment, self._data_dir())
        if missing:
            self._offer_download(experiment, missing)
            return False
        return self._apply(experiment, download=False)

    def download(self) -> bool:
        """Set the experiment up and download its dataset (the Data page shows the progress)."""
        experiment = self.current
        why = self._blocker()
        if why:
            self.banner.show_message(why, WARNING)
            return False
        return self._apply(experiment, download=True)

    def use_data_folder(self, folder: str) -> bool:
        """Look for the experiment's dataset in ``folder``; set it up when it is there."""
        experiment = self.current
        missing = missing_data(experiment, folder)
        if missing:
            self._offer_download(experiment, missing)
            return False
        self._data_folder = folder
        return self.set_up()

    # ------------------------------------------------------------------ internals

    _data_folder: str | None = None  # a folder the user pointed at for the torchvision datasets

    def _data_dir(self) -> str | None:
        return self._data_folder or self.state.data_config.data_dir

    def _blocker(self) -> str | None:
        if not self.state.torch_loaded:
            return "PyTorch is still loading; try again in a moment."
        if self.state.training:
            return "A run is training: stop it (or let it finish) before setting up another experiment."
        return None

    def _apply(self, experiment: Experiment, download: bool) -> bool:
        data = dataclasses.replace(experiment.data, data_dir=self._data_dir(), download=download)
        # the device is the user's choice, not the experiment's
        train = dataclasses.replace(experiment.train, device=self.state.train_config.device)
        self.state.set_spec(experiment.spec())
        self.state.set_train_config(train)
        if not self._load_data(data):
            self.banner.show_message("The dataset could not be loaded now: the Data page says why.", WARNING)
            self._show_page("Data", "")
            return False
        self.active = experiment
        self.result_label.setText("")
        self._set_missing_visible(False)
        what = "Downloading the dataset on the Data page; then " if download else "Set up. "
        self.banner.show_message(what + (experiment.steps[0] if experiment.steps else ""), INFO)
        self._show_page("Data" if download else experiment.page, experiment.focus)
        self.set_up_done.emit(experiment.key)
        return True

    def _offer_download(self, experiment: Experiment, missing: str) -> None:
        self.banner.show_message(f"This experiment needs {missing}: download it once, or point to a folder "
                                 "that holds it.", WARNING)
        self.download_button.setText("Download and set up")
        self._set_missing_visible(True)

    def _set_missing_visible(self, visible: bool) -> None:
        self.download_button.setVisible(visible)
        self.folder_button.setVisible(visible)

    @Slot()
    def _update_buttons(self) -> None:
        self.setup_button.setEnabled(self.state.torch_loaded)
        self.setup_button.setToolTip("" if self.state.torch_loaded else "PyTorch is still loading")

    def _show(self, experiment: Experiment) -> None:
        self.title_label.setText(experiment.title)
        self.explanation_label.setText(experiment.explanation)
        self.setup_label.setText(describe_setup(experiment))
        self.reported_label.setText(f"The cheatsheet: {experiment.reported.text}" if experiment.reported
                                    else "The cheatsheet reports no number for this one.")
        self.steps_label.setText("\n".join(experiment.steps))
        self.result_label.setText(self._result_text if self.active is experiment else "")
        self.banner.clear()
        self.banner.hide()
        self._set_missing_visible(False)
        self._update_buttons()

    _result_text = ""

    def _show_result(self, text: str) -> None:
        self._result_text = f"Your run: {text}"
        if self.active is self.current:
            self.result_label.setText(self._result_text)
        self.result_shown.emit(text)

    # ------------------------------------------------------------------ slots

    @Slot(QListWidgetItem, QListWidgetItem)
    def _on_list_current_item_changed(self, current: QListWidgetItem | None, _previous: Any) -> None:
        if current is not None:
            self._show(get_experiment(current.data(KEY_ROLE)))

    @Slot()
    def _on_folder_button_clicked(self) -> None:
        s = prefs.make_settings()
        folder = QFileDialog.getExistingDirectory(self, "Folder that holds CIFAR-10", prefs.last_dir(s, "datasets"))
        if folder:
            prefs.remember_folder(s, folder, "datasets")
            self.use_data_folder(folder)

    @Slot(bool)
    def _on_state_training_changed(self, running: bool) -> None:
        experiment = self.active
        if experiment is None:
            return
        spec = self.state.spec
        if running:
            self._run_of_active = spec is not None and spec.name == experiment.spec().name
            return
        if not self._run_of_active:
            return
        self._run_of_active = False
        meta = self.state.checkpoint_meta
        if meta is None or meta.model_spec.name != experiment.spec().name:
            return  # the run left no model (it failed): nothing to compare
        metrics = meta.metrics or {}
        epochs = len(meta.history) if meta.history else None
        self._show_result(compare(experiment, metrics.get("train_acc"), metrics.get("val_acc"), epochs))

    @Slot(object)
    def _on_state_dataset_changed(self, bundle: Any) -> None:
        experiment = self.active
        if bundle is None or experiment is None or experiment.reported is None or experiment.reported.mean is None:
            return
        if tuple(self.state.data_config.classes) != tuple(experiment.data.classes):
            return
        mean = ", ".join(f"{m:.4f}" for m in bundle.mean)
        std = ", ".join(f"{s:.4f}" for s in bundle.std)
        self._show_result(f"mean ({mean}), std ({std}) over the {len(bundle.train):,} training images of "
                          f"{' and '.join(experiment.data.classes)}")


__all__ = ["ExperimentsPanel", "describe_setup"]
