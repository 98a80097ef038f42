"""The open project: restores the app from ``project.json`` and autosaves every change.

:class:`ProjectController` subscribes to the AppState (napari style: it owns
no state of its own beyond the core ``Project``) and writes the project a
moment after each change (debounced, atomic, see core.projects), so a crash
loses at most the last change. The Train page's overlaid runs and the page on
screen are read from the window when saving. Read-only projects (locked by
another program, or a folder that cannot be written) are never written.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, QTimer, Signal

from cvstudio.core.projects import (
    LoadedProject,
    Project,
    ProjectError,
    load_project,
    project_text,
    project_writing,
    release_lock,
    write_project_text,
)
from cvstudio.gui.state import AppState
from cvstudio.gui.tasks import TaskGroup

log = logging.getLogger(__name__)

AUTOSAVE_DELAY_MS = 400  # changes within this time are written together
AUTOSAVE_TASK = "autosave"  # the TaskGroup key of autosave writes: one at a time, the newest waiting
WRITE_WAIT_MS = 10_000  # how long an explicit save or closing waits for an autosave write in flight
OVERLAY_SLICE = 5  # finished runs added to the Train plots per turn of the event loop (~7 ms each), so that
# overlaying or restoring dozens of runs draws them progressively instead of freezing the window


def read_run_histories(paths: list[str]) -> list[tuple[str, str, list[Any], str]]:
    """Worker: (checkpoint path, model name, EpochEnded events, status) of each readable checkpoint."""
    from cvstudio.core.events import EpochEnded
    from cvstudio.core.errors import CheckpointError
    from cvstudio.core.projects import run_history

    out = []
    for path in paths:
        try:
            name, history, status = run_history(path)
        except (CheckpointError, OSError):
            continue
        events = []
        for h in history:
            try:
                events.append(EpochEnded(
                    epoch=int(h["epoch"]), train_loss=float(h["train_loss"]), train_acc=float(h["train_acc"]),
                    val_loss=float(h["val_loss"]), val_acc=float(h["val_acc"]), lr=float(h.get("lr") or 0.0),
                    seconds=float(h.get("seconds") or 0.0), images_per_s=float(h.get("images_per_s") or 0.0),
                    improved=False,
                ))
            except (KeyError, TypeError, ValueError):
                continue
        out.append((path, name, events, status))
    return out


def copy_project_files(source: Path, target: Path) -> None:
    """Worker: copy a project's runs/ and exports/ into ``target`` (Save project as)."""
    for sub in ("runs", "exports"):
        if (source / sub).is_dir():
            shutil.copytree(source / sub, target / sub, dirs_exist_ok=True)


class ProjectController(QObject):
    project_opened = Signal(object)  # LoadedProject: its problems are shown once, by the window
    saved = Signal(object)  # Path of project.json after an autosave
    save_failed = Signal(str)  # one line; later changes are tried again

    def __init__(self, state: AppState, parent: QObject | None = None):
        super().__init__(parent)
        self.state = state
        self.loaded: LoadedProject | None = None
        self.train_page: Any = None
        self.current_page: Callable[[], str | None] = lambda: None  # the window tells which page is open
        self.tasks = TaskGroup(self)
        self._applying = False
        self._held: set[str] = set()  # project items not yet applied to the state: saving keeps the project's
        self._save_error: str | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(AUTOSAVE_DELAY_MS)
        self._timer.timeout.connect(self._autosave)
        self._overlay_queue: list[tuple[str, str, list[Any], str]] = []  # runs read, not yet on the Train plots
        self._overlay_timer = QTimer(self)
        self._overlay_timer.setSingleShot(True)
        self._overlay_timer.setInterval(0)
        self._overlay_timer.timeout.connect(self._add_overlay_slice)
        state.data_config_changed.connect(self._on_state_data_config_changed)
        state.spec_changed.connect(self._on_state_spec_changed)
        state.train_config_changed.connect(self._on_state_train_config_changed)
        state.model_changed.connect(self._on_state_model_changed)
        state.torch_ready.connect(self._on_state_torch_ready)

    # --- what is open

    @property
    def project(self) -> Project | None:
        return self.loaded.project if self.loaded else None

    @property
    def read_only(self) -> bool:
        return self.loaded is None or self.loaded.read_only

    @property
    def folder(self) -> Path | None:
        return self.project.folder if self.project else None

    def open(self, folder: str | Path) -> LoadedProject:
        """Open (or create) the project in ``folder`` and restore the app from it; ProjectError if unusable."""
        loaded = load_project(folder)
        self.close()
        self.loaded = loaded
        project = loaded.project
        self.state.runs_folder = project.runs_dir
        if self.train_page is not None:  # another project's curves do not belong here
            self.train_page.plots.clear_runs(keep=self.train_page.current_run)
        if not loaded.read_only and not project.file.exists():
            self.save_now()  # a new project exists on disk from the start
        self._restore(project)
        self.project_opened.emit(loaded)
        return loaded

    def new(self, folder: str | Path) -> LoadedProject:
        """A project in ``folder`` that starts from the current data, model and training settings."""
        folder = Path(folder)
        if (folder / "project.json").exists():
            return self.open(folder)
        loaded = load_project(folder)
        self.close()
        self.loaded = loaded
        self._held = set()
        self._capture(loaded.project)
        self.state.runs_folder = loaded.project.runs_dir
        if self.train_page is not None:
            self.train_page.plots.clear_runs(keep=self.train_page.current_run)
        self.save_now()
        self.project_opened.emit(loaded)
        return loaded

    def save_as(self, folder: str | Path, on_done: Callable[[LoadedProject], Any] | None = None,
                on_error: Callable[[str], Any] | None = None) -> None:
        """Copy this project (settings, runs, exports) into ``folder`` and continue there."""
        target = Path(folder).absolute()
        source = self.folder
        if source is not None and target == source:
            self.save_now()
            return
        if (target / "project.json").exists():
            if on_error:
                on_error(f"{target} holds a project already; choose an empty folder")
            return

        def copied(_result: Any) -> None:
            try:
                loaded = load_project(target)
            except ProjectError as e:
                if on_error:
                    on_error(str(e))
                return
            old = self.project
            self.close()
            self.loaded = loaded
            project = loaded.project
            if old is not None:
                project.data_config, project.spec, project.train_config = old.data_config, old.spec, old.train_config
                project.notes, project.tags = dict(old.notes), {k: list(v) for k, v in old.tags.items()}
                self._follow_copied_runs(old.runs_dir, project.runs_dir)
            self._capture(project)
            self.state.runs_folder = project.runs_dir
            self.save_now()
            self.project_opened.emit(loaded)
            if on_done:
                on_done(loaded)

        if source is None:
            copied(None)
            return
        self.tasks.start(copy_project_files, source, target, on_result=copied,
                         on_error=lambda err: on_error(f"could not copy the project: {err.message}") if on_error else None)

    def _follow_copied_runs(self, old_runs: Path, new_runs: Path) -> None:
        """After Save as: the current model and the drawn runs are the copies in the new project."""
        def moved(path: Path | None) -> Path | None:
            if path is not None and Path(path).absolute().parent == old_runs.absolute():
                copy = new_runs / Path(path).name
                return copy if copy.is_file() else None
            return None

        copy = moved(self.state.checkpoint_path)
        if copy is not None:
            self.state.checkpoint_path = copy  # the same weights: no model_changed, nothing reloads
        if self.train_page is not None:
            for run in self.train_page.plots.runs:
                copy = moved(run.checkpoint)
                if copy is not None:
                    run.checkpoint = copy

    def close(self) -> None:
        """Write pending changes and release the lock."""
        if self.loaded is None:
            return
        if self._timer.isActive() or self.tasks.busy(AUTOSAVE_TASK):
            self.save_now()  # the newest changes, once the autosave in flight has ended
        if not self.loaded.read_only:
            release_lock(self.loaded.project.folder)
        self._overlay_queue.clear()  # another project's runs do not belong on its plots
        self.loaded = None
        self.state.runs_folder = None

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """The window closes: write, unlock, and let the controller's workers end."""
        self.close()
        return self.tasks.shutdown(timeout_ms)

    # --- restoring

    def _restore(self, project: Project) -> None:
        self._held = set()
        self._applying = True
        try:
            state = self.state
            config = project.data_config
            if data_source_problem_without_torch(config) is not None:
                self._held.add("data")  # kept in the project until the user chooses other data
            elif config != state.data_config:
                if state.torch_loaded and state.dataset is not None:
                    state.load_data_config(config)  # a project opened later: its data replaces the loaded one
                else:
                    state.set_data_config(config)  # the start-up loader loads it (from the cache)
            if project.spec is not None:
                state.set_spec(project.spec)
            state.set_train_config(project.train_config)
            model = project.current_model_path()
            if model is not None and model.is_file() and model != state.checkpoint_path:
                self._held.add("model")  # until the checkpoint has loaded
                state.open_checkpoint(model, load_data=False, adopt_settings=False)
        finally:
            self._applying = False
        self._restore_curves()

    def attach_train_page(self, page: Any) -> None:
        """The Train page exists: draw the project's runs again, and note new runs as they end."""
        self.train_page = page
        page.run_finished.connect(self._on_train_page_run_finished)
        page.clear_button.clicked.connect(lambda *_: self._overlay_queue.clear())  # runs waiting are cleared too
        page.clear_button.clicked.connect(self.schedule_save)
        self._restore_curves()

    def _restore_curves(self) -> None:
        project, page = self.project, self.train_page
        if project is None or page is None or not project.overlaid_runs:
            return
        self.overlay_checkpoints([str(project.run_path(r)) for r in project.overlaid_runs])

    def overlay_checkpoints(self, paths: list[str]) -> None:
        """Read these checkpoints' histories in a worker and draw them on the Train page (once each)."""
        page = self.train_page
        if page is None:
            return
        shown = {str(r.checkpoint) for r in page.plots.runs if r.checkpoint is not None}
        paths = [p for p in paths if p not in shown]
        if paths:
            project = self.project
            self.tasks.start(read_run_histories, paths,
                             on_result=lambda runs: self._on_curves_read(runs) if self.project is project else None)

    def _on_curves_read(self, runs: list[tuple[str, str, list[Any], str]]) -> None:
        """Queue finished runs' per-epoch curves for the Train page; they are drawn a few per event-loop turn."""
        self._overlay_queue.extend(runs)
        if not self._overlay_timer.isActive():
            self._overlay_timer.start()

    def _add_overlay_slice(self) -> None:
        page = self.train_page
        if page is None:
            self._overlay_queue.clear()
            return
        batch, self._overlay_queue[:OVERLAY_SLICE] = self._overlay_queue[:OVERLAY_SLICE], []
        shown = {str(r.checkpoint) for r in page.plots.runs}
        for path, label, events, status in batch:
            if str(path) in shown:  # once per checkpoint
                continue
            shown.add(str(path))
            run = page.plots.add_run(f"{label} · {Path(path).stem[:15]}")
            run.epochs_planned = len(events)
            run.status, run.checkpoint = status, Path(path)
            for event in events:
                run.add_epoch(event)
            page.plots.run_changed(run)
        page.plots.redraw_now()
        page.clear_button.setEnabled(any(r is not page.current_run for r in page.plots.runs))
        if self._overlay_queue:
            self._overlay_timer.start()
        else:
            self.schedule_save()

    # --- autosave

    def _capture(self, project: Project) -> None:
        """Copy the app's current choices into ``project``."""
        state = self.state
        if "data" not in self._held:
            project.data_config = state.data_config
        if state.spec is not None:
            project.spec = state.spec
        project.train_config = state.train_config
        if "model" not in self._held:
            project.set_current_model(state.checkpoint_path)
        page = self.current_page()
        if page:
            project.page = page
        if self.train_page is not None:
            runs_dir = project.runs_dir.absolute()
            drawn = [r.checkpoint for r in self.train_page.plots.runs if r.checkpoint is not None]
            waiting = [Path(path) for path, *_ in self._overlay_queue]  # saved too: a close now keeps them
            project.overlaid_runs = list(dict.fromkeys(
                Path(path).stem for path in [*drawn, *waiting] if Path(path).absolute().parent == runs_dir
            ))

    def schedule_save(self, *_: Any) -> None:
        if not self._applying and not self.read_only:
            self._timer.start()

    def save_now(self) -> bool:
        """Write the project now, on this thread, once any autosave write in flight has ended (Save, closing,
        another project); False when read-only or the write failed."""
        self._timer.stop()
        if self.read_only:
            return False
        self._settle_autosave()
        write = self._captured()
        if write is None:
            return False
        try:
            path = write_project_text(*write)
        except ProjectError as e:
            self._on_save_error(str(e))
            return False
        self._on_written(self.loaded.project, write[-1], path)
        return True

    def _autosave(self) -> None:
        """The debounced save: the project is captured here and written on a worker, since its fsync calls
        can take long on a busy disk (a checkpoint just written, a cache being filled) and the GUI thread
        must not wait for them. One write at a time; a change made meanwhile is written after it."""
        if self.read_only:
            return
        write = self._captured()
        if write is None:
            return
        project, keep_backup = self.loaded.project, write[-1]
        self.tasks.start(write_project_text, *write, key=AUTOSAVE_TASK,
                         on_result=lambda path: self._on_written(project, keep_backup, path),
                         on_error=lambda error: self._on_save_error(error.message))

    def _captured(self) -> tuple[str, Path, tuple[Path, ...], bool] | None:
        """The open project with the app's current choices, as ``write_project_text``'s arguments (its text,
        file, folders and whether to back the old file up first); None, said once, when it cannot be saved."""
        project = self.loaded.project
        self._capture(project)
        try:
            return (project_text(project), *project_writing(project))
        except ProjectError as e:
            self._on_save_error(str(e))
            return None

    def _settle_autosave(self) -> None:
        """Before a write on this thread: drop the autosave waiting to be written (the caller writes newer
        settings) and wait for the one in flight, so that two writers never race for project.json."""
        self.tasks.cancel(AUTOSAVE_TASK)  # a write in flight does not stop: it finishes its file
        writing = self.tasks.running(AUTOSAVE_TASK)
        if writing is not None and not writing.wait(WRITE_WAIT_MS):
            log.warning("an autosave of the project is still being written after %d ms", WRITE_WAIT_MS)

    def _on_written(self, project: Project, backed_up: bool, path: Path) -> None:
        if backed_up:
            project.keep_backup = False  # the backup is made: one is enough
        self._save_error = None
        self.saved.emit(path)

    def _on_save_error(self, message: str) -> None:
        if message != self._save_error:  # say it once, not at every change
            self._save_error = message
            self.state.status_message.emit(f"Project not saved: {message}")
            self.save_failed.emit(message)

    def _on_state_data_config_changed(self, _config: Any) -> None:
        if not self._applying:
            self._held.discard("data")
        self.schedule_save()

    def _on_state_spec_changed(self, _spec: Any) -> None:
        self.schedule_save()

    def _on_state_train_config_changed(self, _config: Any) -> None:
        self.schedule_save()

    def _on_state_model_changed(self) -> None:
        self._held.discard("model")
        self.schedule_save()

    def _on_state_torch_ready(self) -> None:
        self._restore_curves()

    def _on_train_page_run_finished(self, _run: Any) -> None:
        self.schedule_save()

    # --- notes and tags (the runs browser)

    def set_note(self, run_id: str, text: str) -> None:
        from cvstudio.core.projects import MAX_NOTE_CHARS

        project = self.project
        if project is None:
            return
        text = text.strip()[:MAX_NOTE_CHARS]
        if text:
            project.notes[run_id] = text
        else:
            project.notes.pop(run_id, None)
        self.schedule_save()

    def set_tags(self, run_id: str, tags: list[str]) -> None:
        from cvstudio.core.projects import clean_tags

        project = self.project
        if project is None:
            return
        clean = clean_tags(tags)
        if clean:
            project.tags[run_id] = clean
        else:
            project.tags.pop(run_id, None)
        self.schedule_save()


def data_source_problem_without_torch(config: Any) -> str | None:
    """A missing data folder, told before torch is imported (named datasets are checked when loaded)."""
    source = Path(str(config.source)).expanduser()
    if config.source != "shapes" and source.is_absolute() and not source.is_dir():
        return f"the data folder {config.source} is missing"
    return None
