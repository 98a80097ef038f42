"""The Classify page's layout (what Qt Designer's ``setupUi`` would hold): widgets, layout, actions, connections.

:class:`ClassifyPageLayout` is mixed into :class:`~cvstudio.gui.pages.classify.ClassifyPage`,
whose slots it connects; it holds no state and runs no work.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListView,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QStyle,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from cvstudio.gui.widgets.banner import MessageBanner
from cvstudio.gui.widgets.classify_results import (
    CARD_SIZE,
    COL_IMAGE,
    COL_LABEL,
    COL_PROB,
    COL_PROBLEM,
    COL_RUNNER_UP,
    TABLE_ICON_SIDE,
    ProbabilityDelegate,
    ResultCardDelegate,
    ResultsModel,
    ResultsProxy,
)
from cvstudio.gui.widgets.drop_zone import DropOverlay, DropZone
from cvstudio.gui.widgets.first_run import FirstRunHint
from cvstudio.gui.widgets.prediction_detail import ElidedLabel, PredictionDetail
from cvstudio.gui.widgets.progress import ProgressBar, ProgressLabel



class ClassifyPageLayout:
    """Builds the Classify page's widgets (``_build``) and keyboard actions (``_make_actions``)."""

    def _build(self) -> None:
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

        # --- the model bar
        model_bar = QFrame(self)
        model_bar.setObjectName("classifyModelBar")
        self.model_combo = QComboBox(model_bar)
        self.model_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.model_combo.setMinimumContentsLength(28)
        self.model_combo.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.model_combo.setToolTip("The model that classifies: the app's current model or a checkpoint of the runs folder")
        self.model_combo.activated.connect(self._on_model_combo_activated)
        self.open_checkpoint_button = QPushButton("Open checkpoint…", model_bar)
        self.open_checkpoint_button.setToolTip("Load a .safetensors checkpoint (you can also drop one on the page)")
        self.open_checkpoint_button.clicked.connect(self.open_checkpoint_dialog)
        self.refresh_button = QToolButton(model_bar)
        self.refresh_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_BrowserReload))
        self.refresh_button.setToolTip("Look for new checkpoints in the runs folder")
        self.refresh_button.setAutoRaise(True)
        self.refresh_button.clicked.connect(lambda: self.scan_runs())
        model_label = QLabel("Model", model_bar)
        bold = model_label.font()
        bold.setWeight(bold.Weight.DemiBold)
        model_label.setFont(bold)
        self.model_info = ElidedLabel("", model_bar, Qt.TextElideMode.ElideRight)
        self.model_info.setEnabled(False)  # the palette's quieter disabled-text colour
        top = QHBoxLayout()
        top.setSpacing(8)
        top.addWidget(model_label)
        top.addWidget(self.model_combo, 1)
        top.addWidget(self.open_checkpoint_button)
        top.addWidget(self.refresh_button)
        bar_layout = QVBoxLayout(model_bar)
        bar_layout.setContentsMargins(0, 0, 0, 0)
        bar_layout.setSpacing(4)
        bar_layout.addLayout(top)
        bar_layout.addWidget(self.model_info)

        self.banner = MessageBanner(self)

        # --- left: tools, results, progress
        left = QWidget(self)
        self.open_images_button = QPushButton("Open images…", left)
        self.open_images_button.setToolTip("Classify image files (Ctrl+O)")
        self.open_images_button.clicked.connect(self.open_images_dialog)
        self.open_folder_button = QPushButton("Open folder…", left)
        self.open_folder_button.setToolTip("Classify every image in a folder and its subfolders (Ctrl+Shift+O)")
        self.open_folder_button.clicked.connect(self.open_folder_dialog)
        self.paste_button = QPushButton("Paste", left)
        self.paste_button.setToolTip("Classify the image (or image files) on the clipboard (Ctrl+V)")
        self.paste_button.clicked.connect(self.paste)
        self.filter_edit = QLineEdit(left)
        self.filter_edit.setPlaceholderText("Filter by name or label")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.setMinimumWidth(120)
        self.filter_edit.setMaximumWidth(260)
        self.filter_edit.textChanged.connect(self._on_filter_edit_changed)
        self.problems_check = QCheckBox("Problems only", left)
        self.problems_check.setToolTip("Show only the inputs that could not be classified")
        self.problems_check.toggled.connect(self._on_problems_check_toggled)
        self.grid_button = QToolButton(left)
        self.grid_button.setText("Grid")
        self.table_button = QToolButton(left)
        self.table_button.setText("Table")
        self.view_group = QButtonGroup(self)
        for i, b in enumerate((self.grid_button, self.table_button)):
            b.setCheckable(True)
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            self.view_group.addButton(b, i)
        self.grid_button.setToolTip("Thumbnails with their predictions")
        self.table_button.setToolTip("A sortable table (click a column header to sort)")
        self.grid_button.setChecked(True)
        self.view_group.idClicked.connect(self._on_view_group_clicked)
        self.export_button = QPushButton("Export CSV…", left)
        self.export_button.setToolTip("Save the rows shown (in their current order) as a CSV table")
        self.export_button.clicked.connect(self.export_csv_dialog)
        self.clear_button = QPushButton("Clear", left)
        self.clear_button.setToolTip("Remove all results")
        self.clear_button.clicked.connect(self.clear)

        # Two rows: in one, at 1024 px wide the filter field covered "Problems only" and clipped the buttons.
        self.tools_bar = QWidget(left)
        tools_rows = QVBoxLayout(self.tools_bar)
        tools_rows.setContentsMargins(0, 0, 0, 0)
        tools_rows.setSpacing(6)
        tools = QHBoxLayout()
        tools.setSpacing(6)
        tools.addWidget(self.open_images_button)
        tools.addWidget(self.open_folder_button)
        tools.addWidget(self.paste_button)
        tools.addStretch(1)
        views = QHBoxLayout()
        views.setSpacing(0)
        views.addWidget(self.grid_button)
        views.addWidget(self.table_button)
        tools.addLayout(views)
        filters = QHBoxLayout()
        filters.setSpacing(8)
        filters.addWidget(self.filter_edit, 1)
        filters.addWidget(self.problems_check)
        tools_rows.addLayout(tools)
        tools_rows.addLayout(filters)

        self.results_model = ResultsModel(self)
        self.proxy = ResultsProxy(self)
        self.proxy.setSourceModel(self.results_model)

        self.table = QTableView(left)
        self.table.setModel(self.proxy)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setIconSize(QSize(TABLE_ICON_SIDE, TABLE_ICON_SIDE))
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(TABLE_ICON_SIDE + 8)
        self.table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.table.setSortingEnabled(True)
        self.table.horizontalHeader().setSortIndicatorClearable(True)
        header = self.table.horizontalHeader()
        header.setHighlightSections(False)
        header.setStretchLastSection(True)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for col, width in ((COL_IMAGE, 200), (COL_LABEL, 110), (COL_PROB, 90), (COL_RUNNER_UP, 130), (COL_PROBLEM, 160)):
            header.resizeSection(col, width)
        self.table.setItemDelegateForColumn(COL_PROB, ProbabilityDelegate(self.table))

        self.grid = QListView(left)
        self.grid.setModel(self.proxy)
        self.grid.setViewMode(QListView.ViewMode.IconMode)
        self.grid.setResizeMode(QListView.ResizeMode.Adjust)
        self.grid.setMovement(QListView.Movement.Static)
        self.grid.setUniformItemSizes(True)
        self.grid.setLayoutMode(QListView.LayoutMode.Batched)  # thousands of cards lay out without a stall
        self.grid.setBatchSize(256)
        self.grid.setGridSize(CARD_SIZE)
        self.grid.setSpacing(0)
        self.grid.setMouseTracking(True)
        self.grid.setWrapping(True)
        self.grid.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.grid.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.grid.setItemDelegate(ResultCardDelegate(self.results_model, self.grid))
        self.grid.setSelectionModel(self.table.selectionModel())  # one selection for both views
        self.table.selectionModel().currentRowChanged.connect(self._on_selection_current_row_changed)

        self.drop_zone = DropZone("Drop images here, or open a folder", parent=left)
        self.drop_zone.open_images_requested.connect(self.open_images_dialog)
        self.drop_zone.open_folder_requested.connect(self.open_folder_dialog)
        self.drop_zone.paste_requested.connect(self.paste)

        self.results_stack = QStackedWidget(left)
        self.results_stack.addWidget(self.drop_zone)
        self.results_stack.addWidget(self.grid)
        self.results_stack.addWidget(self.table)

        self.progress_bar = ProgressBar(left)
        self.progress_bar.setTextVisible(False)
        self.progress_bar.setMaximumHeight(10)
        self.progress_label = ProgressLabel("", left)
        self.cancel_button = QPushButton("Cancel", left)
        self.cancel_button.setToolTip("Stop after the batch being classified (Esc)")
        self.cancel_button.clicked.connect(self.cancel)
        self.progress_row = QWidget(left)
        pr = QHBoxLayout(self.progress_row)
        pr.setContentsMargins(0, 0, 0, 0)
        pr.setSpacing(8)
        pr.addWidget(self.progress_bar, 1)
        pr.addWidget(self.progress_label)
        pr.addWidget(self.cancel_button)
        self.progress_row.hide()
        self.summary_label = ElidedLabel("", left, Qt.TextElideMode.ElideRight)

        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.setSpacing(6)
        left_layout.addWidget(self.tools_bar)
        # a newcomer's first line, until the first image is classified
        self.first_run_hint = FirstRunHint("classify", left)
        self.first_run_hint.show_hint("New here? Each image you add gets its predicted class and the model's top "
                                      "probabilities; select one to see it as the model sees it.")
        left_layout.addWidget(self.first_run_hint)
        left_layout.addWidget(self.results_stack, 1)
        left_layout.addWidget(self.progress_row)
        self.bottom_bar = QWidget(left)
        bottom = QHBoxLayout(self.bottom_bar)
        bottom.setContentsMargins(0, 0, 0, 0)
        bottom.setSpacing(6)
        bottom.addWidget(self.summary_label, 1)
        bottom.addWidget(self.export_button)
        bottom.addWidget(self.clear_button)
        left_layout.addWidget(self.bottom_bar)

        # --- right: the detail
        self.detail = PredictionDetail(self)
        self.detail.saliency_toggled.connect(self._on_detail_saliency_toggled)
        detail_frame = QFrame(self)
        detail_frame.setFrameShape(QFrame.Shape.StyledPanel)
        df = QVBoxLayout(detail_frame)
        df.setContentsMargins(0, 0, 0, 0)
        df.addWidget(self.detail)

        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.addWidget(left)
        self.splitter.addWidget(detail_frame)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setSizes([720, 400])

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.setSpacing(8)
        layout.addWidget(model_bar)
        layout.addWidget(self.banner)
        layout.addWidget(self.splitter, 1)

        self.overlay = DropOverlay(self)
        self._set_model_controls_ready(False)
        self._rebuild_combo()

    def _make_actions(self) -> None:
        def action(text: str, keys: Any, slot: Any) -> QAction:
            a = QAction(text, self)
            a.setShortcut(QKeySequence(keys))
            a.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            a.triggered.connect(slot)
            self.addAction(a)
            return a

        self.open_action = action("Open images…", QKeySequence.StandardKey.Open, self.open_images_dialog)
        self.open_folder_action = action("Open folder…", "Ctrl+Shift+O", self.open_folder_dialog)
        self.paste_action = action("Paste", QKeySequence.StandardKey.Paste, self.paste)
        self.cancel_action = action("Cancel", "Esc", self.cancel)
