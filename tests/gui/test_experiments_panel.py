"""Help > Experiments: each experiment sets the expected network, data and training settings."""

from __future__ import annotations

import dataclasses

import pytest

from cvstudio.core.experiments import EXPERIMENTS, get_experiment
from cvstudio.core.specs import TrainConfig
from cvstudio.gui.experiments_panel import ExperimentsPanel
from cvstudio.gui.state import AppState


@pytest.fixture
def cifar_dir(tmp_path):
    """A folder where CIFAR-10's files are present (empty: the panel only checks that they exist)."""
    from cvstudio.core.data.torchvision_sources import TORCHVISION_SOURCES

    root = tmp_path / "datasets"
    for rel in TORCHVISION_SOURCES["cifar10"].files:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"")
    return root


class Recorder:
    def __init__(self, loads: bool = True):
        self.loaded, self.pages, self.loads = [], [], loads

    def load_data(self, config) -> bool:
        self.loaded.append(config)
        return self.loads

    def show_page(self, title: str, focus: str) -> None:
        self.pages.append((title, focus))


@pytest.fixture
def state():
    import torch  # noqa: F401 - as after start-up

    s = AppState()
    s.mark_torch_ready()
    s.set_train_config(TrainConfig(device="cpu", epochs=3))
    return s


@pytest.fixture
def make_panel(qtbot, state):
    def make(recorder: Recorder) -> ExperimentsPanel:
        panel = ExperimentsPanel(state, recorder.load_data, recorder.show_page)
        qtbot.addWidget(panel)
        panel.show()
        return panel

    return make


@pytest.mark.parametrize("experiment", EXPERIMENTS, ids=lambda e: e.key)
def test_each_experiment_sets_its_spec_data_and_settings(make_panel, state, cifar_dir, experiment):
    state.set_data_config(dataclasses.replace(state.data_config, data_dir=str(cifar_dir)))
    recorder = Recorder()
    panel = make_panel(recorder)
    assert panel.set_up(experiment.key)
    assert state.spec == experiment.spec()
    assert state.train_config == dataclasses.replace(experiment.train, device="cpu")  # the device stays the user's
    loaded = recorder.loaded[-1]
    assert (loaded.source, loaded.classes, loaded.download) == (experiment.data.source, experiment.data.classes, False)
    assert recorder.pages[-1] == (experiment.page, experiment.focus)
    assert panel.title_label.text() == experiment.title
    assert panel.explanation_label.text() == experiment.explanation


def test_cheatsheet_settings_of_the_headline_experiments(make_panel, state, cifar_dir):
    state.set_data_config(dataclasses.replace(state.data_config, data_dir=str(cifar_dir)))
    panel = make_panel(Recorder())
    panel.set_up("mlp")
    assert [l.kind for l in state.spec.layers][:2] == ["linear", "activation"] and state.spec.loss == "nll"
    assert (state.train_config.lr, state.train_config.momentum, state.train_config.batch_size,
            state.train_config.epochs) == (1e-2, 0.0, 64, 100)
    assert "train 0.998 / validation 0.820 after 100 epochs" in panel.reported_label.text()
    panel.set_up("width")
    assert (state.train_config.lr, state.train_config.weight_decay) == (1e-1, 1e-3)
    assert "0.9125" in panel.reported_label.text()


def test_missing_cifar_offers_the_download_first(make_panel, state, tmp_path):
    state.set_data_config(dataclasses.replace(state.data_config, data_dir=str(tmp_path / "empty")))
    recorder = Recorder()
    panel = make_panel(recorder)
    spec_before = state.spec
    assert not panel.set_up("convnet")
    assert recorder.loaded == [] and state.spec == spec_before  # nothing changed yet
    assert panel.download_button.isVisible() and panel.folder_button.isVisible()
    assert "CIFAR-10" in panel.banner.text()
    assert panel.download()
    assert recorder.loaded[-1].download and recorder.loaded[-1].classes == ("airplane", "bird")
    assert recorder.pages[-1] == ("Data", "")  # where the download's progress is
    assert state.spec == get_experiment("convnet").spec()


def test_a_folder_that_holds_cifar_is_used(make_panel, state, tmp_path, cifar_dir):
    state.set_data_config(dataclasses.replace(state.data_config, data_dir=str(tmp_path / "empty")))
    recorder = Recorder()
    panel = make_panel(recorder)
    assert not panel.set_up("mlp")
    assert not panel.use_data_folder(str(tmp_path / "still-empty"))
    assert panel.use_data_folder(str(cifar_dir))
    assert recorder.loaded[-1].data_dir == str(cifar_dir)


def test_the_runs_result_appears_next_to_the_cheatsheets(make_panel, state, cifar_dir):
    from cvstudio.core.checkpoints import CheckpointMeta

    state.set_data_config(dataclasses.replace(state.data_config, data_dir=str(cifar_dir)))
    panel = make_panel(Recorder())
    panel.set_up("convnet")
    state.set_training(True)
    meta = CheckpointMeta(model_spec=state.spec, class_names=("airplane", "bird"), input_shape=(3, 32, 32),
                          mean=(0.5,) * 3, std=(0.25,) * 3, metrics={"train_acc": 0.95, "val_acc": 0.875},
                          history=[{"epoch": i} for i in range(1, 4)])
    state.set_model(object(), meta, None)
    state.set_training(False)
    assert panel.result_label.text() == (
        "Your run: train 0.950 / validation 0.875 (cheatsheet 0.8905) after 3 epochs (cheatsheet: 100)")


def test_nothing_is_set_up_while_a_run_trains(make_panel, state, cifar_dir):
    state.set_data_config(dataclasses.replace(state.data_config, data_dir=str(cifar_dir)))
    recorder = Recorder()
    panel = make_panel(recorder)
    state.set_training(True)
    assert not panel.set_up("convnet")
    assert recorder.loaded == [] and "training" in panel.banner.text()
    state.set_training(False)


def test_help_menu_reaches_each_experiment_in_three_clicks(qtbot, monkeypatch):
    from cvstudio.gui.main_window import PAGES, MainWindow

    window = MainWindow(load_data=False, pages=[p for p in PAGES if p.title == "Train"])
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.state.torch_loaded, timeout=60_000)
    loaded = []
    monkeypatch.setattr(window, "_load_experiment_data", lambda config: loaded.append(config) or True)
    help_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Help")  # click 1
    submenu = window.experiments_menu
    assert submenu.menuAction() in help_menu.actions()  # click 2 opens it
    actions = submenu.actions()
    assert [a.text() for a in actions] == [f"{i}. {e.title}" for i, e in enumerate(EXPERIMENTS, start=1)]
    actions[5].trigger()  # click 3: blur and edge kernels (built-in shapes: no download)
    panel = window.experiments_panel
    assert panel.isVisible() and panel.active is get_experiment("kernels")
    assert loaded[-1].source == "shapes" and window.state.spec == get_experiment("kernels").spec()
    panel.close()
