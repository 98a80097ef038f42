"""The Data page's layout (what Qt Designer's ``setupUi`` would hold): widgets, their layout and connections.

:class:`DataPageLayout` is mixed into :class:`~cvstudio.gui.pages.data.DataPage`,
whose slots it connects; it holds no state and runs no work.
"""

from __future__ import annotations


from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontDatabase, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from cvstudio.gui.pages.data_augment import AugmentBox
from cvstudio.gui.pages.data_jobs import SAMPLES_PER_CLASS
from cvstudio.gui.widgets.banner import MessageBanner
from cvstudio.gui.widgets.image_grid import ImageGrid
from cvstudio.gui.widgets.labels import HintLabel
from cvstudio.gui.widgets.progress import ProgressBar

SHAPES = "shapes"
FOLDER = "folder"  # the page's name for "a folder path"; DataConfig.source holds the path itself
TORCHVISION_LABELS = {  # display names; the list itself comes from core.data.SOURCES
    "cifar10": "CIFAR-10",
    "cifar100": "CIFAR-100",
    "mnist": "MNIST",
    "fashion-mnist": "Fashion-MNIST",
    "svhn": "SVHN",
}
CHEATSHEET_SUBSET = ("airplane", "bird")  # the cheatsheet's "cifar2": labels 0 and 1
DEFAULT_IMAGE_SIZE = 32  # DataConfig.image_size None means this
MAX_WARNINGS_SHOWN = 6
VAL_SHARE_TIP = "Share of each class held out for validation when the folder has no train/test split"




class DataPageLayout:
    """Builds the Data page's widgets (``_build_ui``); mixed into DataPage."""

    def _build_ui(self) -> None:
        self.build_loading_stack()

        self._controls = self._build_controls()
        controls_scroll = self.settings_column(self._controls, self._content)

        left = QWidget(self._content)
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.setSpacing(6)
        left_layout.addWidget(controls_scroll, 1)
        left_layout.addWidget(self._build_footer(left))

        right = QWidget(self._content)
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(6, 0, 0, 0)
        right_layout.setSpacing(8)
        self.banner = MessageBanner(right)
        self.warnings_banner = MessageBanner(right)
        self.training_banner = MessageBanner(right, closable=False)
        right_layout.addWidget(self.training_banner)
        right_layout.addWidget(self.banner)
        right_layout.addWidget(self.warnings_banner)
        self.right_splitter = QSplitter(Qt.Orientation.Vertical, right)
        self.right_splitter.addWidget(self._build_summary_box())
        self.right_splitter.addWidget(self._build_samples_box())
        self.right_splitter.setChildrenCollapsible(False)
        self.right_splitter.setStretchFactor(0, 2)
        self.right_splitter.setStretchFactor(1, 3)
        self.right_splitter.setSizes([280, 460])
        right_layout.addWidget(self.right_splitter, 1)

        self.splitter = QSplitter(Qt.Orientation.Horizontal, self._content)
        self.splitter.addWidget(left)
        self.splitter.addWidget(right)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([340, 900])
        layout = QVBoxLayout(self._content)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.addWidget(self.splitter)

        # shown over the page while a folder is dragged over it
        self._drop_overlay = QLabel("Drop a folder to load it as a dataset", self)
        self._drop_overlay.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._drop_overlay.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        font = QFont(self._drop_overlay.font())
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        self._drop_overlay.setFont(font)
        self._drop_overlay.hide()

    def _build_controls(self) -> QWidget:
        panel = QWidget()
        layout = QVBoxLayout(panel)
        layout.setContentsMargins(0, 0, 6, 0)
        layout.setSpacing(10)

        # --- source ---
        source_box = QGroupBox("Source", panel)
        grid = QGridLayout(source_box)
        grid.setHorizontalSpacing(6)
        grid.setVerticalSpacing(6)
        grid.setColumnMinimumWidth(0, 18)
        self._source_group = QButtonGroup(self)
        self.shapes_radio = QRadioButton("Built-in shapes", source_box)
        self.shapes_radio.setToolTip("Six classes of generated shapes; nothing to download")
        self.torchvision_radio = QRadioButton("Torchvision dataset", source_box)
        self.folder_radio = QRadioButton("Image folder", source_box)
        for i, radio in enumerate((self.shapes_radio, self.torchvision_radio, self.folder_radio)):
            self._source_group.addButton(radio, i)
        self._source_group.idToggled.connect(self._on_source_group_id_toggled)

        self.torchvision_combo = QComboBox(source_box)
        for name, label in TORCHVISION_LABELS.items():
            self.torchvision_combo.addItem(label, name)
        self.torchvision_combo.activated.connect(self._on_torchvision_combo_activated)
        self.data_dir_edit = QLineEdit(source_box)
        self.data_dir_edit.setClearButtonEnabled(True)
        self.data_dir_edit.setToolTip("Where torchvision datasets are kept (and downloaded to)")
        self.data_dir_edit.editingFinished.connect(self._on_data_dir_edit_editing_finished)
        self.data_dir_button = QToolButton(source_box)
        self.data_dir_button.setText("…")
        self.data_dir_button.setToolTip("Choose the folder that holds torchvision datasets")
        self.data_dir_button.clicked.connect(self._on_data_dir_button_clicked)
        self.download_button = QPushButton("Download", source_box)
        self.download_button.setToolTip("Download the dataset into the data folder (if needed) and load it")
        self.download_button.clicked.connect(self._on_download_button_clicked)

        self.folder_edit = QLineEdit(source_box)
        self.folder_edit.setPlaceholderText("a folder of class subfolders")
        self.folder_edit.setClearButtonEnabled(True)
        self.folder_edit.editingFinished.connect(self._on_folder_edit_editing_finished)
        self.folder_button = QPushButton("Browse…", source_box)
        self.folder_button.clicked.connect(self._on_folder_button_clicked)
        folder_hint = HintLabel(
            "PATH/<class>/*.png, or PATH/train/<class>/* with PATH/test/ (or val/). "
            "You can also drop a folder onto this page.",
            source_box,
        )

        row = 0
        grid.addWidget(self.shapes_radio, row, 0, 1, 3)
        row += 1
        grid.addWidget(self.torchvision_radio, row, 0, 1, 3)
        row += 1
        grid.addWidget(self.torchvision_combo, row, 1)
        grid.addWidget(self.download_button, row, 2)
        row += 1
        dir_row = QHBoxLayout()
        dir_row.setSpacing(4)
        dir_row.addWidget(self.data_dir_edit, 1)
        dir_row.addWidget(self.data_dir_button)
        grid.addLayout(dir_row, row, 1, 1, 2)
        row += 1
        grid.addWidget(self.folder_radio, row, 0, 1, 3)
        row += 1
        grid.addWidget(self.folder_edit, row, 1)
        grid.addWidget(self.folder_button, row, 2)
        row += 1
        grid.addWidget(folder_hint, row, 1, 1, 2)
        grid.setColumnStretch(1, 1)
        layout.addWidget(source_box)

        # --- folder options ---
        self.folder_box = QGroupBox("Image options", panel)
        form = QFormLayout(self.folder_box)
        self._options_form = form
        self.val_fraction_spin = QDoubleSpinBox(self.folder_box)
        self.val_fraction_spin.setRange(0.05, 0.9)
        self.val_fraction_spin.setSingleStep(0.05)
        self.val_fraction_spin.setDecimals(2)
        self.val_fraction_spin.setToolTip(VAL_SHARE_TIP)
        self.val_fraction_note = QLabel(self.folder_box)  # why the share is disabled, when it is
        self.val_fraction_note.setObjectName("valFractionNote")
        self.val_fraction_note.setWordWrap(True)
        self.val_fraction_note.setEnabled(False)  # drawn in the disabled (muted) colour
        self.val_fraction_note.hide()
        self.image_size_spin = QSpinBox(self.folder_box)
        self.image_size_spin.setRange(4, 1024)
        self.image_size_spin.setSuffix(" px")
        self.image_size_spin.setToolTip("Side of the square images: folder images are resized to it, shapes drawn at it")
        self.grayscale_check = QCheckBox("load as one channel", self.folder_box)
        for widget in (self.val_fraction_spin, self.image_size_spin):
            widget.valueChanged.connect(self._on_option_changed)
        self.grayscale_check.toggled.connect(self._on_option_changed)
        form.addRow("Validation share", self.val_fraction_spin)
        form.addRow("", self.val_fraction_note)
        form.addRow("Image size", self.image_size_spin)
        form.addRow("Grayscale", self.grayscale_check)
        layout.addWidget(self.folder_box)

        # --- classes ---
        classes_box = QGroupBox("Classes", panel)
        classes_layout = QVBoxLayout(classes_box)
        classes_layout.setSpacing(6)
        self.class_list = QListWidget(classes_box)
        self.class_list.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self.class_list.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.class_list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.class_list.setMinimumHeight(110)
        self.class_list.setSpacing(1)
        self.class_list.itemChanged.connect(self._on_class_list_item_changed)
        self.class_list.model().rowsMoved.connect(self._on_class_list_rows_moved)
        self.all_button = QPushButton("All", classes_box)
        self.all_button.setToolTip("Tick every class")
        self.all_button.clicked.connect(self._on_all_button_clicked)
        self.none_button = QPushButton("None", classes_box)
        self.none_button.setToolTip("Untick every class")
        self.none_button.clicked.connect(self._on_none_button_clicked)
        self.cheatsheet_button = QPushButton("airplane vs bird (cheatsheet)", classes_box)
        self.cheatsheet_button.setToolTip("The cheatsheet's 'cifar2' subset: airplane = label 0, bird = label 1")
        self.cheatsheet_button.clicked.connect(self._on_cheatsheet_button_clicked)
        buttons = QHBoxLayout()
        buttons.setSpacing(4)
        buttons.addWidget(self.all_button)
        buttons.addWidget(self.none_button)
        buttons.addStretch(1)
        self.classes_hint = HintLabel("Ticked classes become labels 0, 1, … in list order; drag to reorder.", classes_box)
        classes_layout.addWidget(self.class_list, 1)
        classes_layout.addLayout(buttons)
        classes_layout.addWidget(self.cheatsheet_button)
        classes_layout.addWidget(self.classes_hint)
        layout.addWidget(classes_box, 1)

        # --- augmentation ---
        self.augment_box = AugmentBox(self.state, self.tasks, panel)  # issue 13: pages/data_augment.py
        self.augment_box.changed.connect(self._on_augment_box_changed)
        layout.addWidget(self.augment_box)

        return panel

    def _build_footer(self, parent: QWidget) -> QWidget:
        """The Load button and the progress of a load: always visible below the scrolling controls."""
        footer = QWidget(parent)
        layout = QVBoxLayout(footer)
        layout.setContentsMargins(0, 0, 6, 0)
        layout.setSpacing(4)
        self.load_button = QPushButton("Load dataset", footer)
        self.load_button.setDefault(True)
        self.load_button.setToolTip("Load the chosen images and make them the dataset to train on")
        self.load_button.clicked.connect(self._on_load_button_clicked)
        font = QFont(self.load_button.font())
        font.setBold(True)
        self.load_button.setFont(font)
        self.load_button.setMinimumHeight(self.load_button.sizeHint().height() + 6)
        self.progress_bar = ProgressBar(footer)
        self.progress_bar.setTextVisible(False)
        self.progress_bar.setMaximumHeight(8)
        self.progress_bar.hide()
        self.progress_label = HintLabel("", footer)
        self.cancel_button = QPushButton("Cancel", footer)
        self.cancel_button.setToolTip("Stop loading; the dataset loaded before stays")
        self.cancel_button.clicked.connect(self._on_cancel_button_clicked)
        progress_row = QHBoxLayout()
        progress_row.setContentsMargins(0, 0, 0, 0)
        progress_row.addWidget(self.progress_label, 1)
        progress_row.addWidget(self.cancel_button)
        self.progress_label.hide()
        self.cancel_button.hide()
        self.pending_label = HintLabel("", footer)
        layout.addWidget(self.load_button)
        layout.addWidget(self.progress_bar)
        layout.addLayout(progress_row)
        layout.addWidget(self.pending_label)
        return footer

    def _build_summary_box(self) -> QGroupBox:
        box = QGroupBox("Dataset", self)
        layout = QVBoxLayout(box)
        layout.setSpacing(8)
        self.title_label = QLabel(box)
        font = QFont(self.title_label.font())
        font.setPointSizeF(font.pointSizeF() * 1.2)
        font.setBold(True)
        self.title_label.setFont(font)
        self.title_label.setWordWrap(True)
        self.title_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.sizes_label = HintLabel("", box)
        self.sizes_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.title_label)
        layout.addWidget(self.sizes_label)

        # The tables and the normalization note scroll inside the box when it is short (a 700 px high
        # window): squeezed below their size, the note was drawn over the mean/std table.
        tables_area = QWidget(box)
        tables = QHBoxLayout(tables_area)
        tables.setContentsMargins(0, 0, 0, 0)
        tables.setSpacing(12)
        self.class_table = QTableWidget(0, 4, box)
        self.class_table.setHorizontalHeaderLabels(["Label", "Class", "Train", "Validation"])
        self._setup_table(self.class_table, stretch=1)
        stats = QVBoxLayout()
        stats.setSpacing(6)
        self.stats_table = QTableWidget(0, 3, box)
        self.stats_table.setHorizontalHeaderLabels(["Channel", "Mean", "Std"])
        self._setup_table(self.stats_table, stretch=0)
        for col in (1, 2):
            self.stats_table.horizontalHeader().setSectionResizeMode(col, QHeaderView.ResizeMode.Stretch)
        self.stats_table.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        rows = self.stats_table.verticalHeader().defaultSectionSize()
        self.stats_table.setMinimumHeight(self.stats_table.horizontalHeader().sizeHint().height() + 3 * rows + 4)
        self.normalize_label = QLabel(box)
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.normalize_label.setFont(mono)
        self.normalize_label.setWordWrap(True)
        self.normalize_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.normalize_label.setToolTip("Per-channel statistics of the training images (0..1 units), as the cheatsheet computed by hand")
        stats_hint = HintLabel("Training images, 0..1 units: what transforms.Normalize is given.", box)
        stats.addWidget(self.stats_table)
        stats.addWidget(stats_hint)
        stats.addWidget(self.normalize_label)
        stats.addStretch(1)
        tables.addWidget(self.class_table, 3)
        tables.addLayout(stats, 2)
        scroll = QScrollArea(box)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(tables_area)
        layout.addWidget(scroll, 1)
        return box

    @staticmethod
    def _setup_table(table: QTableWidget, stretch: int) -> None:
        table.verticalHeader().hide()
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        table.setAlternatingRowColors(True)
        table.setWordWrap(False)
        table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 8)
        header = table.horizontalHeader()
        header.setHighlightSections(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(stretch, QHeaderView.ResizeMode.Stretch)

    def _build_samples_box(self) -> QGroupBox:
        box = QGroupBox("Sample training images", self)
        layout = QVBoxLayout(box)
        bar = QHBoxLayout()
        bar.addWidget(HintLabel("Shown as stored (uint8), before normalization and augmentation.", box), 1)
        bar.addWidget(QLabel("Per class", box))
        self.per_class_spin = QSpinBox(box)
        self.per_class_spin.setRange(1, 24)
        self.per_class_spin.setValue(SAMPLES_PER_CLASS)
        self.per_class_spin.setKeyboardTracking(False)
        self.per_class_spin.valueChanged.connect(self._on_per_class_spin_value_changed)
        self.shuffle_button = QPushButton("Shuffle", box)
        self.shuffle_button.setToolTip("Show other random images")
        self.shuffle_button.clicked.connect(self._on_shuffle_button_clicked)
        bar.addWidget(self.per_class_spin)
        bar.addWidget(self.shuffle_button)
        self.image_grid = ImageGrid(box)
        scroll = QScrollArea(box)
        scroll.setWidget(self.image_grid)
        scroll.setWidgetResizable(True)
        scroll.setBackgroundRole(QPalette.ColorRole.Base)
        layout.addLayout(bar)
        layout.addWidget(scroll, 1)
        return box
