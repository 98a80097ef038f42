"""The Data page: choose the images to train on and look at them.

Sources: the built-in shapes, a torchvision dataset (downloaded on request,
with progress), or a folder of class subfolders picked in a dialog or dropped
onto the page. The classes are a checkable list whose order is the label
order. Loading, computing the statistics and picking sample images run in
worker threads; the page shows class counts, per-channel mean/std and a grid
of samples per class, and any problem as a banner on the page.

``Load dataset`` sets ``AppState.data_config`` and then ``AppState.dataset``
once the images are in memory (``dataset`` is None meanwhile). A load that
fails or is cancelled (the Cancel button beside the progress, through the
task's stop token) brings back the dataset that was loaded before, so nothing
is lost. The progress line estimates the time left of the current stage.

The core's data modules import torch, so they are imported only in workers or
after ``AppState.torch_ready``; until then the page shows a loading note.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from time import monotonic
from typing import Any

from PySide6.QtCore import QEvent, Qt, QUrl, Slot
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QFileDialog,
    QListWidgetItem,
    QTableWidgetItem,
    QWidget,
)

from cvstudio.core.errors import Cancelled, for_window
from cvstudio.core.specs import DataConfig
from cvstudio.gui import settings as prefs
from cvstudio.gui.pages.base import Page
from cvstudio.gui.pages.data_jobs import (
    ClassListing,
    DatasetOverview,
    StageEta,
    describe_dataset,
    format_time_left,
    list_classes,
    list_classes_and_split,
    load_and_describe,
)
from cvstudio.gui.pages.data_ui import (
    CHEATSHEET_SUBSET,
    DEFAULT_IMAGE_SIZE,
    FOLDER,
    MAX_WARNINGS_SHOWN,
    SHAPES,
    TORCHVISION_LABELS,
    VAL_SHARE_TIP,
    DataPageLayout,
)
from cvstudio.gui.state import AppState
from cvstudio.gui.widgets.banner import ERROR, INFO, WARNING
from cvstudio.gui.tasks import TaskError

def _source_kind(source: str) -> str:
    if source == SHAPES:
        return SHAPES
    if source in TORCHVISION_LABELS:
        return "torchvision"
    return FOLDER


def _channel_names(n: int) -> list[str]:
    if n == 1:
        return ["Gray"]
    if n == 3:
        return ["Red", "Green", "Blue"]
    return [f"Channel {i}" for i in range(n)]


def _local_dir_from_urls(urls: list[QUrl]) -> str | None:
    for url in urls:
        if url.isLocalFile():
            return url.toLocalFile()
    return None


# ----------------------------------------------------------------------------- the page


class DataPage(DataPageLayout, Page):
    """Data source, classes, augmentation, statistics and sample images."""

    title = "Data"
    loading_detail = "The data page opens as soon as PyTorch has been imported."

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(state, parent)
        self._ready = False
        self._available: tuple[str, ...] | None = None  # classes of the source in the list, once known
        self._classes_for: DataConfig | None = None  # the source settings the list was made for
        self._wanted_classes: tuple[str, ...] = state.data_config.classes  # ticks to restore when the list arrives
        # self.tasks keys: "load" (a dataset), "classes" (listing a source's classes), "describe" (the overview)
        self._classes_generation = 0  # results of superseded requests are ignored
        self._describe_generation = 0
        self._previous: tuple[DataConfig, Any] | None = None  # what to restore if a load fails
        self._described: Any = None  # the bundle the panel shows
        self._last_overview: tuple[Any, DatasetOverview] | None = None  # reused when a failed load restores it
        self._sample_seed = 0
        self._load_eta = StageEta()
        self._setting_state = False  # our own state updates must not rewrite the controls

        self.setAcceptDrops(True)
        self._build_ui()
        self._show_config(state.data_config)

        state.torch_ready.connect(self._on_state_torch_ready)
        state.data_config_changed.connect(self._on_state_data_config_changed)
        state.dataset_changed.connect(self._on_state_dataset_changed)
        state.training_changed.connect(self._on_state_training_changed)
        if state.torch_loaded:
            self._on_state_torch_ready()

    # ================================================================== public API

    def config_from_controls(self) -> DataConfig:
        """The DataConfig the controls describe; raises ValueError with a message for the user."""
        kind = self._selected_kind()
        current = self.state.data_config
        if kind == SHAPES:
            source, data_dir = SHAPES, current.data_dir
        elif kind == "torchvision":
            source = self.torchvision_combo.currentData()
            data_dir = self.data_dir_edit.text().strip() or None
        else:
            text = self.folder_edit.text().strip()
            if not text:
                raise ValueError("Choose an image folder first (Browse…, or drop a folder onto this page).")
            source, data_dir = str(Path(text).expanduser()), current.data_dir
        classes = self._selected_classes()
        size = self.image_size_spin.value()
        grayscale = self.grayscale_check.isChecked()
        if kind == "torchvision":
            size, grayscale = DEFAULT_IMAGE_SIZE, False  # not options of torchvision datasets
        try:
            return DataConfig(
                source=source,
                data_dir=data_dir,
                download=False,
                classes=classes,
                val_fraction=round(self.val_fraction_spin.value(), 4),
                image_size=None if size == DEFAULT_IMAGE_SIZE else size,
                grayscale=grayscale,
                augment=self.augment_box.value(),
                seed=current.seed,
            )
        except Exception as exc:  # a ConfigError names the bad value
            raise ValueError(str(exc)) from exc

    def apply(self, download: bool = False) -> bool:
        """Load what the controls describe (the Load button); returns False with a message if it cannot start."""
        if self.state.training:
            self._show_error("A run is training: the dataset cannot change until it ends.")
            return False
        try:
            config = self.config_from_controls()
        except ValueError as exc:
            self._show_error(str(exc))
            return False
        if download:
            config = dataclasses.replace(config, download=True)
        return self._start_load(config)

    def load(self, config: DataConfig) -> bool:
        """Load ``config`` as it is (e.g. set up by an experiment); the controls follow. False with a message if not."""
        if self.state.training:
            self._show_error("A run is training: the dataset cannot change until it ends.")
            return False
        if config == self.state.data_config and self.state.dataset is not None and not self.is_loading():
            return True  # already loaded
        self._wanted_classes = config.classes
        self._show_config(config)
        if self._ready:
            self._request_classes()
        return self._start_load(config)

    def open_folder(self, path: str) -> bool:
        """Use ``path`` as a folder dataset with all its classes and load it (Browse and drop both end here)."""
        folder = Path(path).expanduser()
        if not folder.exists():
            self._show_error(f"{folder} does not exist.")
            return False
        if not folder.is_dir():
            self._show_error(
                f"{folder.name} is a file. Drop or choose a folder that holds one subfolder of images per class "
                "(or train/ and test/ folders of class subfolders)."
            )
            return False
        if self.is_loading():
            self._show_error("A dataset is loading; try again when it has finished.")
            return False
        self._set_kind(FOLDER)
        self.folder_edit.setText(str(folder))
        self._wanted_classes = ()
        self._on_source_edited()
        return self.apply()

    def is_loading(self) -> bool:
        return self.tasks.busy("load")

    # ================================================================== state signals

    @Slot()
    def _on_state_torch_ready(self) -> None:
        if self._ready:
            return
        from cvstudio.core import paths
        from cvstudio.core.data import SOURCES

        names = [n for n in SOURCES if n not in (SHAPES, FOLDER)]
        if names:
            self.torchvision_combo.clear()
            for name in names:
                self.torchvision_combo.addItem(TORCHVISION_LABELS.get(name, name), name)
                self.torchvision_combo.setItemData(
                    self.torchvision_combo.count() - 1, SOURCES[name], Qt.ItemDataRole.ToolTipRole
                )
        self.data_dir_edit.setPlaceholderText(str(paths.data_dir()))
        self._ready = True
        self.show_content()
        self._show_config(self.state.data_config)
        self._request_classes()
        if self.state.dataset is not None:
            self._on_state_dataset_changed(self.state.dataset)
        else:
            self._show_no_dataset("Loading the dataset…")

    @Slot(object)
    def _on_state_data_config_changed(self, config: DataConfig) -> None:
        if self._setting_state:
            return
        self._wanted_classes = config.classes
        self._show_config(config)
        if self._ready:
            self._request_classes()

    @Slot(object)
    def _on_state_dataset_changed(self, bundle) -> None:
        if not self._ready or self._setting_state:
            return
        if bundle is None:
            self._show_no_dataset("Loading the dataset…" if self.is_loading() else "No dataset loaded.")
        elif bundle is not self._described:
            self._describe(bundle)
        self._update_pending()  # e.g. the window loaded the start-up dataset: the controls now match it

    @Slot(bool)
    def _on_state_training_changed(self, running: bool) -> None:
        self._controls.setEnabled(not running and not self.is_loading())
        self.load_button.setEnabled(not running and not self.is_loading())
        if running:
            self.training_banner.show_message("A run is training: the dataset cannot change until it ends.", INFO)
        else:
            self.training_banner.clear()

    # ================================================================== controls

    @Slot(int, bool)
    def _on_source_group_id_toggled(self, _id: int, checked: bool) -> None:
        if checked:
            self._update_source_widgets()
            self._on_source_edited()

    @Slot(int)
    def _on_torchvision_combo_activated(self, _index: int) -> None:
        self._set_kind("torchvision")
        self._on_source_edited()

    @Slot()
    def _on_data_dir_edit_editing_finished(self) -> None:
        if self._selected_kind() == "torchvision":
            self._on_source_edited()

    @Slot()
    def _on_data_dir_button_clicked(self) -> None:
        start = self.data_dir_edit.text() or self.data_dir_edit.placeholderText()
        path = QFileDialog.getExistingDirectory(self, "Folder for torchvision datasets", start)
        if path:
            self.data_dir_edit.setText(path)
            self._set_kind("torchvision")
            self._on_source_edited()

    @Slot()
    def _on_download_button_clicked(self) -> None:
        self._set_kind("torchvision")
        self.apply(download=True)

    @Slot()
    def _on_folder_edit_editing_finished(self) -> None:
        if self.folder_edit.text().strip():
            self._set_kind(FOLDER)
            self._on_source_edited()

    @Slot()
    def _on_folder_button_clicked(self) -> None:
        s = prefs.make_settings()
        current = self.folder_edit.text().strip()
        # the dataset folder's parent: the dialog then shows the folder itself and its siblings
        start = str(Path(current).parent) if current and Path(current).is_dir() else prefs.last_dir(s, "datasets")
        path = QFileDialog.getExistingDirectory(self, "Choose an image folder", start)
        if path:
            prefs.remember_dir(s, path, "datasets")
            self.open_folder(path)

    @Slot()
    def _on_option_changed(self, *_args) -> None:
        # image size / grayscale / split change the images, not the class names: just mark the settings as pending
        self._update_pending()

    @Slot(str)
    def _on_augment_box_changed(self, augment: str) -> None:
        # augmentation happens per batch while training: no reload needed
        if augment != self.state.data_config.augment:
            self._setting_state = True
            try:
                self.state.set_data_config(dataclasses.replace(self.state.data_config, augment=augment))
            finally:
                self._setting_state = False
        self._update_pending()

    @Slot(QListWidgetItem)
    def _on_class_list_item_changed(self, _item: QListWidgetItem) -> None:
        self._update_pending()

    @Slot()
    def _on_class_list_rows_moved(self, *_args) -> None:
        self._update_pending()

    @Slot()
    def _on_all_button_clicked(self) -> None:
        self._tick_all(True)

    @Slot()
    def _on_none_button_clicked(self) -> None:
        self._tick_all(False)

    @Slot()
    def _on_cheatsheet_button_clicked(self) -> None:
        self.select_classes(CHEATSHEET_SUBSET)

    @Slot()
    def _on_load_button_clicked(self) -> None:
        self.apply()

    @Slot(int)
    def _on_per_class_spin_value_changed(self, _value: int) -> None:
        if self._described is not None:
            self._describe(self._described)

    @Slot()
    def _on_shuffle_button_clicked(self) -> None:
        if self._described is not None:
            self._sample_seed += 1
            self._describe(self._described)

    # ================================================================== drag and drop

    def dragEnterEvent(self, event) -> None:
        mime = event.mimeData()
        if self._ready and mime.hasUrls() and _local_dir_from_urls(mime.urls()) is not None:
            event.acceptProposedAction()
            self._drop_overlay.setGeometry(self.rect())
            self._style_drop_overlay()
            self._drop_overlay.raise_()
            self._drop_overlay.show()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragLeaveEvent(self, event) -> None:
        self._drop_overlay.hide()
        super().dragLeaveEvent(event)

    def dropEvent(self, event) -> None:
        self._drop_overlay.hide()
        path = _local_dir_from_urls(event.mimeData().urls()) if event.mimeData().hasUrls() else None
        if path is None:
            event.ignore()
            return
        event.acceptProposedAction()
        if self.state.training:
            self._show_error("A run is training: the dataset cannot change until it ends.")
            return
        self.open_folder(path)

    def _style_drop_overlay(self) -> None:
        highlight = self.palette().color(QPalette.ColorRole.Highlight)
        text = self.palette().color(QPalette.ColorRole.WindowText)
        self._drop_overlay.setStyleSheet(
            "QLabel { background-color: rgba(%d, %d, %d, 60); border: 3px dashed rgb(%d, %d, %d);"
            " border-radius: 8px; color: rgb(%d, %d, %d); }"
            % (highlight.red(), highlight.green(), highlight.blue(), highlight.red(), highlight.green(),
               highlight.blue(), text.red(), text.green(), text.blue())
        )

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._drop_overlay.isVisible():
            self._drop_overlay.setGeometry(self.rect())

    # ================================================================== classes

    def select_classes(self, names) -> bool:
        """Tick exactly ``names``, moved to the top in this order; False (with a message) if one is missing."""
        if self._available is None:
            self._show_error("The class list is not ready yet.")
            return False
        missing = [n for n in names if n not in self._available]
        if missing:
            self._show_error(f"This dataset has no class {', '.join(repr(n) for n in missing)}.")
            return False
        self._fill_class_list(self._available, tuple(names))
        self._update_pending()
        return True

    def selected_classes(self) -> tuple[str, ...]:
        """The ticked classes in list order (all of them when the list is not known yet)."""
        if self._available is None:
            return self._wanted_classes
        return tuple(
            self.class_list.item(i).text()
            for i in range(self.class_list.count())
            if self.class_list.item(i).checkState() == Qt.CheckState.Checked
        )

    def _selected_classes(self) -> tuple[str, ...]:
        """DataConfig.classes for the ticks: () when every class is ticked in the source's own order."""
        ticked = self.selected_classes()
        if self._available is None:
            return ticked
        if not ticked:
            raise ValueError("Tick at least two classes to train a classifier.")
        if len(ticked) == 1:
            raise ValueError(f"A classifier needs at least two classes: tick another one besides {ticked[0]!r}.")
        if ticked == tuple(self._available):
            return ()
        return ticked

    def _tick_all(self, checked: bool) -> None:
        state = Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked
        self.class_list.blockSignals(True)
        for i in range(self.class_list.count()):
            self.class_list.item(i).setCheckState(state)
        self.class_list.blockSignals(False)
        self._update_pending()

    def _fill_class_list(self, available: tuple[str, ...], wanted: tuple[str, ...]) -> None:
        """All ``available`` classes; ``wanted`` ticked and first, in their order (() = all ticked)."""
        wanted = tuple(n for n in wanted if n in available)
        order = list(wanted) + [n for n in available if n not in wanted] if wanted else list(available)
        self.class_list.blockSignals(True)
        self.class_list.clear()
        flags = (Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsUserCheckable
                 | Qt.ItemFlag.ItemIsDragEnabled)
        for name in order:
            item = QListWidgetItem(name)
            item.setFlags(flags)
            item.setCheckState(Qt.CheckState.Checked if (not wanted or name in wanted) else Qt.CheckState.Unchecked)
            self.class_list.addItem(item)
        self.class_list.blockSignals(False)
        self._update_class_buttons()

    def _set_class_list_message(self, text: str) -> None:
        self.class_list.blockSignals(True)
        self.class_list.clear()
        item = QListWidgetItem(text)
        item.setFlags(Qt.ItemFlag.NoItemFlags)
        self.class_list.addItem(item)
        self.class_list.blockSignals(False)
        self._update_class_buttons()

    def _update_class_buttons(self) -> None:
        known = self._available is not None
        self.all_button.setEnabled(known)
        self.none_button.setEnabled(known)
        cifar10 = self._selected_kind() == "torchvision" and self.torchvision_combo.currentData() == "cifar10"
        self.cheatsheet_button.setVisible(cifar10)
        self.cheatsheet_button.setEnabled(known)

    def _request_classes(self) -> None:
        """Ask the core which classes the chosen source has (in a worker)."""
        if not self._ready:
            return
        try:
            config = self.config_from_controls_for_classes()
        except ValueError:
            self._available = None
            self._classes_for = None
            self._set_class_list_message("Choose a folder to see its classes")
            return
        if self._classes_for is not None and self._same_source(config, self._classes_for) and self._available is not None:
            return
        self._available = None
        self._classes_for = config
        self._set_class_list_message("Looking for classes…")
        self._classes_generation += 1
        generation = self._classes_generation
        self._show_own_split(None)
        self.tasks.start(
            list_classes_and_split,
            config,
            key="classes",
            on_result=lambda listing: self._on_classes_task_result(generation, config, listing),
            on_error=lambda error: self._on_classes_task_error(generation, error),
        )

    def config_from_controls_for_classes(self) -> DataConfig:
        """Like :meth:`config_from_controls` but all classes: what ``available_classes`` needs."""
        kind = self._selected_kind()
        if kind == SHAPES:
            return DataConfig(source=SHAPES)
        if kind == "torchvision":
            return DataConfig(source=self.torchvision_combo.currentData(), data_dir=self.data_dir_edit.text().strip() or None)
        text = self.folder_edit.text().strip()
        if not text:
            raise ValueError("no folder")
        return DataConfig(source=str(Path(text).expanduser()))

    @staticmethod
    def _same_source(a: DataConfig, b: DataConfig) -> bool:
        return (a.source, a.data_dir) == (b.source, b.data_dir)

    def _on_classes_task_result(self, generation: int, config: DataConfig, listing: ClassListing) -> None:
        if generation != self._classes_generation:
            return  # the source changed meanwhile; a newer request is on its way
        self._available = tuple(listing.names)
        self._show_own_split(listing.own_split)
        self._fill_class_list(self._available, self._wanted_classes)
        self._update_pending()

    def _on_classes_task_error(self, generation: int, error: TaskError) -> None:
        if generation != self._classes_generation:
            return
        self._available = None
        self._set_class_list_message("No classes found")
        if self.banner.level == ERROR and "still loaded" in self.banner.text():
            return  # a failed load already explained this source and that the previous dataset stays
        if self._selected_kind() == "torchvision" and error.user_error:
            self.banner.show_message(
                for_window(error.message), WARNING, action_text="Download", action=self._on_download_button_clicked
            )
        else:
            self._show_error(for_window(error.message) if error.user_error
                             else f"Could not list the classes: {error.message}")

    # ================================================================== loading

    def _start_load(self, config: DataConfig) -> bool:
        if self.is_loading():
            self._show_error("A dataset is loading already; wait until it has finished.")
            return False
        self.banner.clear()
        self.warnings_banner.clear()
        if self.state.dataset is not None:
            self._previous = (self.state.data_config, self.state.dataset)
        self._setting_state = True
        try:
            self.state.set_data_config(config)
            self.state.set_dataset(None)
        finally:
            self._setting_state = False
        self._wanted_classes = config.classes
        self._show_no_dataset("Loading the dataset…")
        self._set_busy(True, "Downloading…" if config.download else "Loading…")
        self.tasks.start(
            load_and_describe,
            config,
            self.per_class_spin.value(),
            self._sample_seed,
            key="load",
            pass_callbacks=True,
            pass_control=True,
            on_progress=self._on_load_task_progress,
            on_result=lambda result: self._on_load_task_result(config, result),
            on_error=lambda error: self._on_load_task_error(config, error),
            on_finished=self._on_load_task_finished,
        )
        self.pending_label.setText("")
        self.state.status_message.emit(f"Loading {self._describe_source(config)}…")
        return True

    @Slot()
    def _on_cancel_button_clicked(self) -> None:
        """Stop the load at its next check; the error handler then brings the previous dataset back."""
        self.tasks.cancel("load")
        self.cancel_button.setEnabled(False)
        self.progress_label.setText("Cancelling…")

    @Slot(object)
    def _on_load_task_progress(self, event) -> None:
        fraction = event.fraction
        if fraction is None:
            self.progress_bar.setRange(0, 0)
        else:
            self.progress_bar.setRange(0, 1000)
            self.progress_bar.setValue(int(fraction * 1000))
        what = {"download": "Downloading", "decode": "Decoding images", "stats": "Computing statistics"}.get(
            event.stage, event.stage.capitalize()
        )
        text = event.message or what
        if event.stage == "download" and event.total:
            text = f"{text}: {event.done / 1e6:,.1f} of {event.total / 1e6:,.1f} MB"
        elif fraction is not None:
            text = f"{text}: {fraction:.0%}"
        left = self._load_eta.update(event.stage, fraction, monotonic())
        if left is not None and fraction is not None and fraction < 1.0:
            text = f"{text}, {format_time_left(left)}"
        if self.cancel_button.isEnabled():  # after Cancel the label says so until the load has ended
            self.progress_label.setText(text)

    def _on_load_task_result(self, config: DataConfig, result) -> None:
        bundle, overview = result
        self._previous = None
        self._describe_generation += 1  # a description of an older dataset still on its way is stale
        self._show_overview(bundle, overview)
        self._setting_state = True
        try:
            if self.state.data_config != config:
                self.state.set_data_config(config)
            self.state.set_dataset(bundle)
        finally:
            self._setting_state = False
        self.state.status_message.emit(f"Loaded {bundle.description}")

    def _on_load_task_error(self, config: DataConfig, error: TaskError) -> None:
        cancelled = isinstance(error.exception, Cancelled)
        if cancelled:
            message = "Loading was cancelled."
        else:
            message = for_window(error.message) if error.user_error else f"Loading failed: {error.message}"
        restored = ""
        if self._previous is not None:
            old_config, old_bundle = self._previous
            self._previous = None
            self._setting_state = True
            try:
                self.state.set_data_config(old_config)
                self.state.set_dataset(old_bundle)
            finally:
                self._setting_state = False
            if self._last_overview is not None and self._last_overview[0] is old_bundle:
                self._show_overview(*self._last_overview)
            else:
                self._show_overview_of(old_bundle)
            restored = f"\nThe previous dataset ({old_bundle.description}) is still loaded."
        else:
            self._show_no_dataset("No dataset loaded.")
        if cancelled:
            self.banner.show_message(message + restored, INFO)
        elif _source_kind(config.source) == "torchvision" and not config.download and error.user_error:
            self.banner.show_message(message + restored, ERROR, action_text="Download",
                                     action=self._on_download_button_clicked)
        else:
            self.banner.show_message(message + restored, ERROR)
        self.state.status_message.emit(message)

    @Slot()
    def _on_load_task_finished(self) -> None:
        self._set_busy(False)
        self._update_pending()

    def _set_busy(self, busy: bool, text: str = "") -> None:
        self._controls.setEnabled(not busy and not self.state.training)
        self.load_button.setEnabled(not busy and not self.state.training)
        self.progress_bar.setVisible(busy)
        self.progress_label.setVisible(busy)
        self.cancel_button.setVisible(busy)
        self.cancel_button.setEnabled(busy)
        if busy:
            self._load_eta = StageEta()
            self.progress_bar.setRange(0, 0)
            self.progress_label.setText(text)

    # ================================================================== showing a dataset

    def _describe(self, bundle) -> None:
        """Count classes and pick sample images of ``bundle`` in a worker, then show them."""
        self._describe_generation += 1
        generation = self._describe_generation
        self.tasks.start(
            describe_dataset,
            bundle,
            self.per_class_spin.value(),
            self._sample_seed,
            key="describe",
            on_result=lambda overview: self._on_describe_task_result(generation, bundle, overview),
            on_error=lambda error: self._show_error(f"Could not show the dataset: {error.message}"),
        )

    def _on_describe_task_result(self, generation: int, bundle, overview: DatasetOverview) -> None:
        if generation != self._describe_generation:
            return  # another dataset (or another set of samples) was asked for meanwhile
        self._show_overview(bundle, overview)

    def _show_overview_of(self, bundle) -> None:
        self._described = None
        self._describe(bundle)

    def _show_overview(self, bundle, overview: DatasetOverview) -> None:
        self._described = bundle
        self._last_overview = (bundle, overview)
        c, h, w = bundle.input_shape
        n_train, n_val = sum(overview.train_counts), sum(overview.val_counts)
        self.title_label.setText(bundle.description)
        self.sizes_label.setText(
            f"{n_train:,} training + {n_val:,} validation images  ·  {c}×{h}×{w}  ·  {len(bundle.class_names)} classes"
        )
        table = self.class_table
        table.setRowCount(len(bundle.class_names))
        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        for row, name in enumerate(bundle.class_names):
            items = [QTableWidgetItem(str(row)), QTableWidgetItem(name),
                     QTableWidgetItem(f"{overview.train_counts[row]:,}"), QTableWidgetItem(f"{overview.val_counts[row]:,}")]
            for col, item in enumerate(items):
                if col != 1:
                    item.setTextAlignment(right)
                table.setItem(row, col, item)
        stats = self.stats_table
        names = _channel_names(len(bundle.mean))
        stats.setRowCount(len(names))
        for row, (name, mean, std) in enumerate(zip(names, bundle.mean, bundle.std)):
            items = [QTableWidgetItem(name), QTableWidgetItem(f"{mean:.4f}"), QTableWidgetItem(f"{std:.4f}")]
            for col, item in enumerate(items):
                if col:
                    item.setTextAlignment(right)
                stats.setItem(row, col, item)
        stats.setFixedHeight(stats.horizontalHeader().height() + len(names) * stats.verticalHeader().defaultSectionSize() + 4)
        fmt = lambda values: "(" + ", ".join(f"{v:.4f}" for v in values) + ("," if len(values) == 1 else "") + ")"  # noqa: E731
        self.normalize_label.setText(f"transforms.Normalize(\n    {fmt(bundle.mean)},\n    {fmt(bundle.std)})")
        self.image_grid.set_sheet(overview.sheet)
        self.per_class_spin.setEnabled(True)
        self.shuffle_button.setEnabled(True)
        self._show_warnings(tuple(getattr(bundle, "warnings", ()) or ()))

    def _show_warnings(self, warnings: tuple[str, ...]) -> None:
        if not warnings:
            self.warnings_banner.clear()
            return
        shown = list(warnings[:MAX_WARNINGS_SHOWN])
        if len(warnings) > MAX_WARNINGS_SHOWN:
            shown.append(f"… and {len(warnings) - MAX_WARNINGS_SHOWN} more")
        self.warnings_banner.show_message("\n".join(shown), WARNING)

    def _show_no_dataset(self, text: str) -> None:
        self._described = None
        self.title_label.setText(text)
        self.sizes_label.setText("")
        self.class_table.setRowCount(0)
        self.stats_table.setRowCount(0)
        self.normalize_label.setText("")
        self.image_grid.set_sheet(None)
        self.image_grid.set_placeholder(text)
        self.per_class_spin.setEnabled(False)
        self.shuffle_button.setEnabled(False)

    # ================================================================== controls <-> config

    def _selected_kind(self) -> str:
        if self.torchvision_radio.isChecked():
            return "torchvision"
        if self.folder_radio.isChecked():
            return FOLDER
        return SHAPES

    def _set_kind(self, kind: str) -> None:
        radio = {SHAPES: self.shapes_radio, "torchvision": self.torchvision_radio, FOLDER: self.folder_radio}[kind]
        if not radio.isChecked():
            self._source_group.blockSignals(True)
            radio.setChecked(True)
            self._source_group.blockSignals(False)
            self._update_source_widgets()

    def _show_own_split(self, own_split: str | None) -> None:
        """The validation share means nothing for a folder that brings its own validation images: say so."""
        self.val_fraction_spin.setEnabled(own_split is None)
        if own_split is None:
            self.val_fraction_spin.setToolTip(VAL_SHARE_TIP)
        else:
            self.val_fraction_spin.setToolTip(
                f"Not used: this folder has its own validation images in {own_split}, next to train/")
        self.val_fraction_note.setText(f"validation images come from {own_split}" if own_split else "")
        self.val_fraction_note.setVisible(own_split is not None)

    def _update_source_widgets(self) -> None:
        kind = self._selected_kind()
        for widget in (self.torchvision_combo, self.data_dir_edit, self.data_dir_button, self.download_button):
            widget.setEnabled(kind == "torchvision")
        self.folder_box.setVisible(kind in (SHAPES, FOLDER))  # torchvision datasets come in their own size
        self._options_form.setRowVisible(self.val_fraction_spin, kind == FOLDER)
        self._options_form.setRowVisible(self.val_fraction_note, kind == FOLDER and not self.val_fraction_spin.isEnabled())
        self._update_class_buttons()

    def _show_config(self, config: DataConfig) -> None:
        """Set every control from ``config`` without triggering edits."""
        kind = _source_kind(config.source)
        widgets = (self._source_group, self.torchvision_combo, self.val_fraction_spin, self.image_size_spin,
                   self.grayscale_check, self.augment_box)
        for w in widgets:
            w.blockSignals(True)
        try:
            {SHAPES: self.shapes_radio, "torchvision": self.torchvision_radio, FOLDER: self.folder_radio}[kind].setChecked(True)
            if kind == "torchvision":
                index = self.torchvision_combo.findData(config.source)
                if index >= 0:
                    self.torchvision_combo.setCurrentIndex(index)
            elif kind == FOLDER:
                self.folder_edit.setText(config.source)
            self.data_dir_edit.setText(config.data_dir or "")
            self.val_fraction_spin.setValue(config.val_fraction)
            self.image_size_spin.setValue(config.image_size or DEFAULT_IMAGE_SIZE)
            self.grayscale_check.setChecked(config.grayscale)
            self.augment_box.set_value(config.augment)
        finally:
            for w in widgets:
                w.blockSignals(False)
        self._update_source_widgets()
        if self._available is not None and self._classes_for is not None and self._same_source(config, self._classes_for):
            self._fill_class_list(self._available, config.classes)
        self._update_pending()

    def _on_source_edited(self) -> None:
        """The source (kind, torchvision name, folder or data folder) changed: fetch its classes."""
        self._update_class_buttons()
        current = self.state.data_config
        try:
            config = self.config_from_controls_for_classes()
            same = self._same_source(config, DataConfig(source=current.source, data_dir=current.data_dir))
        except ValueError:
            same = False
        self._wanted_classes = current.classes if same else ()
        self._request_classes()
        self._update_pending()

    def _update_pending(self) -> None:
        """Say when the controls differ from the loaded dataset (press Load to apply)."""
        try:
            config = self.config_from_controls()
        except ValueError:
            self.pending_label.setText("")
            return
        loaded = dataclasses.replace(self.state.data_config, download=False)
        if self.is_loading() or not self._ready:
            self.pending_label.setText("")
        elif config != loaded or self.state.dataset is None:
            self.pending_label.setText("These settings are not loaded yet: press Load dataset.")
        else:
            self.pending_label.setText("")

    def _describe_source(self, config: DataConfig) -> str:
        kind = _source_kind(config.source)
        if kind == SHAPES:
            return "the built-in shapes"
        if kind == "torchvision":
            return TORCHVISION_LABELS.get(config.source, config.source)
        return Path(config.source).name or config.source

    def _show_error(self, text: str) -> None:
        self.banner.show_message(text, ERROR)

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and self._drop_overlay.isVisible():
            self._style_drop_overlay()


__all__ = ["DataPage", "DatasetOverview", "describe_dataset", "list_classes", "load_and_describe"]


if __name__ == "__main__":
    raise SystemExit(DataPage.preview())
