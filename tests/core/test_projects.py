"""Project folders: round trip, atomic autosave, damaged/newer/missing input, lock, runs listing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cvstudio.core import projects as P
from cvstudio.core.specs import DataConfig, LayerSpec, ModelSpec, TrainConfig

REPO = Path(__file__).resolve().parents[2]


def full_project(folder: Path) -> P.Project:
    """A project with every field away from its default (hand-edited layers included)."""
    runs = folder / "runs"
    runs.mkdir(parents=True)
    (runs / "r1.safetensors").write_bytes(b"x")
    (runs / "r2.safetensors").write_bytes(b"x")
    data_folder = folder.parent / "images"
    data_folder.mkdir(exist_ok=True)
    return P.Project(
        folder=folder,
        data_config=DataConfig(source=str(data_folder), classes=("dog", "cat"), val_fraction=0.3, image_size=48,
                               grayscale=True, augment="flip-crop", seed=7),
        spec=ModelSpec("my edit", (LayerSpec("conv", 12, padding=1), LayerSpec("activation", fn="tanh"),
                                   LayerSpec("maxpool", kernel=2), LayerSpec("flatten"), LayerSpec("dropout", p=0.3),
                                   LayerSpec("linear"))),
        train_config=TrainConfig(optimizer="adamw", lr=3e-4, weight_decay=1e-2, l1=1e-5, batch_size=32, epochs=23,
                                 seed=5, patience=4, schedule="cosine", label_smoothing=0.1, clip_grad=1.5),
        current_run="r1",
        overlaid_runs=["r1", "r2"],
        page="Evaluate",
        ui={"train.log_loss": True, "runs.filter": "adam"},
        notes={"r1": "first try\nwith notes", "r2": "second"},
        tags={"r1": ["baseline", "cpu"]},
        created="2026-01-02T03:04:05+00:00",
    )


def test_round_trip_keeps_every_field(tmp_path):
    original = full_project(tmp_path / "p")
    P.save_project(original)
    loaded = P.load_project(tmp_path / "p")
    assert loaded.problems == [] and not loaded.read_only
    back = loaded.project
    for name in ("data_config", "spec", "train_config", "current_run", "current_checkpoint", "overlaid_runs", "page",
                 "ui", "notes", "tags", "created"):
        assert getattr(back, name) == getattr(original, name), name
    assert back.spec.layers[0].out == 12 and back.data_config.classes == ("dog", "cat")  # order kept
    assert (tmp_path / "p" / "exports").is_dir()
    P.release_lock(tmp_path / "p")


def test_current_model_outside_the_project_is_kept_by_path(tmp_path):
    project = P.Project(tmp_path / "p")
    outside = tmp_path / "elsewhere.safetensors"
    outside.write_bytes(b"x")
    project.set_current_model(outside)
    assert project.current_run is None and project.current_checkpoint == str(outside)
    project.set_current_model(project.runs_dir / "abc.safetensors")
    assert project.current_run == "abc" and project.current_checkpoint is None


def test_a_crash_while_saving_leaves_the_old_file(tmp_path, monkeypatch):
    project = full_project(tmp_path / "p")
    P.save_project(project)
    before = project.file.read_bytes()
    project.train_config = TrainConfig(epochs=99)

    def crash(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(P.ProjectError, match="No space left"):
        P.save_project(project)
    assert project.file.read_bytes() == before
    assert [p.name for p in project.folder.iterdir() if p.name.endswith(".tmp")] == []


def test_a_process_killed_mid_save_leaves_the_old_file(tmp_path):
    """A real process killed after writing the new text but before the rename."""
    project = full_project(tmp_path / "p")
    P.save_project(project)
    before = project.file.read_bytes()
    script = textwrap.dedent(f"""
        import os, time
        from cvstudio.core import projects as P
        project = P.load_project({str(project.folder)!r}, lock=False).project
        project.train_config = P.TrainConfig(epochs=77)
        real_fsync = os.fsync
        def stall(fd):
            real_fsync(fd)
            print("written", flush=True)
            time.sleep(60)
        os.fsync = stall
        P.save_project(project)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert proc.stdout.readline().strip() == "written", proc.stderr.read()
    finally:
        proc.kill()
        proc.wait()
    assert project.file.read_bytes() == before
    assert P.load_project(project.folder, lock=False).project.train_config.epochs == 23


def test_damaged_file_opens_with_defaults_and_is_backed_up_before_replacing(tmp_path):
    folder = tmp_path / "p"
    folder.mkdir()
    damaged = b'{"format_version": 1, "train_config": {"epochs": 3'  # cut off mid-write by another tool
    (folder / "project.json").write_bytes(damaged)
    loaded = P.load_project(folder)
    assert len(loaded.problems) == 1 and "damaged" in loaded.problems[0] and "\n" not in loaded.problems[0]
    assert loaded.project.train_config == P.DEFAULT_TRAIN_CONFIG and loaded.project.keep_backup
    P.save_project(loaded.project)
    assert (folder / "project.json.bak").read_bytes() == damaged
    assert json.loads((folder / "project.json").read_text())["format_version"] == P.PROJECT_FORMAT
    (folder / "project.json").write_bytes(b"\xff\xfe not text")  # damaged again: the first backup is not overwritten
    again = P.load_project(folder)
    P.save_project(again.project)
    assert (folder / "project.json.bak").read_bytes() == damaged
    assert (folder / "project.json.bak2").read_bytes() == b"\xff\xfe not text"


def test_bad_items_cost_only_themselves(tmp_path):
    project = full_project(tmp_path / "p")
    P.save_project(project)
    data = json.loads(project.file.read_text())
    data["train_config"] = {"lr": -1}
    data["model_spec"] = {"name": 'x"""', "layers": [{"kind": "conv", "out": 10**30}]}
    data["runs"]["../../etc"] = {"notes": "hostile id"}
    data["ui"]["overlaid_runs"] = ["r1", "../r2", 5]
    project.file.write_text(json.dumps(data))
    loaded = P.load_project(project.folder)
    text = "\n".join(loaded.problems)
    assert "training settings" in text and "model settings" in text and "bad run id" in text
    assert len(loaded.problems) == 3
    back = loaded.project
    assert back.data_config == project.data_config and back.notes == project.notes  # the rest is read
    assert back.train_config == P.DEFAULT_TRAIN_CONFIG and back.spec is None
    assert back.overlaid_runs == ["r1"] and not loaded.project.keep_backup


def test_newer_version_reads_what_it_understands_and_keeps_a_backup(tmp_path):
    project = full_project(tmp_path / "p")
    P.save_project(project)
    data = json.loads(project.file.read_text())
    data["format_version"] = P.PROJECT_FORMAT + 1
    data["hologram_settings"] = {"depth": 3}
    project.file.write_text(json.dumps(data))
    newer = project.file.read_bytes()
    loaded = P.load_project(project.folder)
    assert len(loaded.problems) == 1 and "newer CV Studio" in loaded.problems[0]
    assert loaded.project.train_config == project.train_config and loaded.project.spec == project.spec
    P.save_project(loaded.project)
    assert (project.folder / "project.json.bak").read_bytes() == newer


def test_missing_folder_and_checkpoints_are_named_one_per_line(tmp_path):
    project = full_project(tmp_path / "p")
    P.save_project(project)
    (project.runs_dir / "r1.safetensors").unlink()
    (tmp_path / "images").rmdir()
    loaded = P.load_project(project.folder)
    assert len(loaded.problems) == 3, loaded.problems
    assert any("data folder" in p and "images" in p for p in loaded.problems)
    assert any("current model" in p and "r1" in p for p in loaded.problems)
    assert any("run r1 is missing" in p for p in loaded.problems)
    back = loaded.project
    assert back.data_config == project.data_config  # kept: nothing is lost when the folder comes back
    assert back.overlaid_runs == ["r2"] and back.current_run is None


def test_not_writable_folder_opens_read_only(tmp_path, monkeypatch):
    project = full_project(tmp_path / "p")
    P.save_project(project)
    P.release_lock(project.folder)
    real_access = os.access
    # chmod does not stop root (these tests may run as root): deny writing the way os.access reports it
    monkeypatch.setattr(os, "access", lambda path, mode: False if Path(path) == project.folder and mode & os.W_OK
                        else real_access(path, mode))
    loaded = P.load_project(project.folder)
    assert loaded.read_only and loaded.lock_owner is None
    assert [p for p in loaded.problems if "cannot write" in p] == [f"cannot write to {project.folder}: changes in this session are not saved"]
    assert loaded.project.train_config == project.train_config and loaded.project.spec == project.spec
    assert not (project.folder / P.LOCK_FILE).exists()


def test_a_file_instead_of_a_folder_is_one_clear_error(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(P.ProjectError, match="is a file"):
        P.load_project(tmp_path / "f")


def test_lock_of_a_live_process_makes_a_second_opener_read_only_and_stale_locks_are_taken(tmp_path):
    folder = tmp_path / "p"
    P.save_project(P.Project(folder))
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (folder / P.LOCK_FILE).write_text(json.dumps({"pid": holder.pid, "host": __import__("socket").gethostname()}))
        loaded = P.load_project(folder)
        assert loaded.read_only and loaded.lock_owner == holder.pid
        assert any(f"process {holder.pid}" in p and "read-only" in p for p in loaded.problems)
    finally:
        holder.kill()
        holder.wait()
    loaded = P.load_project(folder)  # the holder died: its lock is stale
    assert not loaded.read_only and loaded.lock_owner is None
    assert json.loads((folder / P.LOCK_FILE).read_text())["pid"] == os.getpid()
    P.release_lock(folder)
    assert not (folder / P.LOCK_FILE).exists()


# --- runs ---------------------------------------------------------------------------------------


def save_run(runs: Path, name: str, val_acc: float, created: str):
    import torch

    from cvstudio.core.checkpoints import CheckpointMeta, save_checkpoint
    from cvstudio.core.models import build_model, get_preset

    spec = get_preset("mlp", width=4)
    model = build_model(spec, (3, 8, 8), 2)
    torch.manual_seed(0)
    meta = CheckpointMeta(
        model_spec=spec, class_names=("a", "b"), input_shape=(3, 8, 8), mean=(0.5,) * 3, std=(0.2,) * 3,
        train_config=TrainConfig(lr=0.05, batch_size=16, epochs=2), data_config=DataConfig(classes=("a", "b")),
        dataset="shapes: a, b", metrics={"train_acc": val_acc + 0.1, "val_acc": val_acc, "val_loss": 0.3},
        history=[{"epoch": i, "train_loss": 1.0 / i, "train_acc": 0.5, "val_loss": 0.9, "val_acc": val_acc,
                  "lr": 0.05, "seconds": 2.0, "images_per_s": 100.0 * i} for i in (1, 2)],
        created=created, status="finished",
    )
    return save_checkpoint(runs / f"{name}.safetensors", model, meta)


def test_runs_are_listed_newest_first_with_notes_and_an_unreadable_one_is_shown(tmp_path):
    project = P.Project(tmp_path / "p", notes={"old": "a note"}, tags={"new": ["best"]})
    P.save_project(project)
    save_run(project.runs_dir, "old", 0.7, "2026-01-01T00:00:00+00:00")
    save_run(project.runs_dir, "new", 0.9, "2026-02-01T00:00:00+00:00")
    (project.runs_dir / "broken.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}")
    runs = P.list_runs(project)
    by_id = {r.id: r for r in runs}
    assert [r.id for r in runs if r.error is None] == ["new", "old"]
    assert by_id["broken"].status == "unreadable" and by_id["broken"].error
    new = by_id["new"]
    assert (new.model, new.val_acc, new.epochs, new.lr, new.batch_size) == ("mlp", 0.9, 2, 0.05, 16)
    assert new.seconds == 4.0 and new.images_per_s == 150.0 and new.tags == ("best",)
    assert by_id["old"].notes == "a note"
    assert new.settings["train.lr"] == "0.05" and new.settings["data.classes"] == "a, b"
    row = new.to_json()
    for key in ("id", "model", "val_acc", "train_acc", "epochs", "status", "created", "checkpoint"):
        assert key in row
    assert row["checkpoint"] == str(project.runs_dir / "new.safetensors")


def test_trash_moves_the_checkpoint_and_never_overwrites(tmp_path):
    project = P.Project(tmp_path / "p", overlaid_runs=["a"], current_run="a")
    P.save_project(project)
    for _ in range(2):
        (project.runs_dir / "a.safetensors").write_bytes(b"x")
        P.trash_run(project, "a")
    assert sorted(p.name for p in project.trash_dir.iterdir()) == ["a-2.safetensors", "a.safetensors"]
    assert project.overlaid_runs == [] and project.current_run is None
    with pytest.raises(P.ProjectError, match="not in"):
        P.trash_run(project, "a")
    with pytest.raises(P.ProjectError, match="not a run id"):
        P.trash_run(project, "../p")


def test_data_source_problem(tmp_path):
    assert P.data_source_problem(DataConfig()) is None
    assert P.data_source_problem(DataConfig(source=str(tmp_path))) is None
    assert "missing" in P.data_source_problem(DataConfig(source=str(tmp_path / "gone")))
    problem = P.data_source_problem(DataConfig(source="cifar10", data_dir=str(tmp_path)))
    assert problem is not None and "not found" in problem


@pytest.mark.parametrize("document", [
    '{"format_version": 1, "train_config": {"epochs": 1e400, "lr": NaN}}',
    '{"format_version": 1, "train_config": {"epochs": 100000000000000000000000000000}}',
    '{"format_version": 1, "data_config": {"source": "/a\\u0000b", "val_fraction": 7}}',
    '{"format_version": 1, "model_spec": {"name": "x", "layers": [{"kind": "conv", "out": -3}]}}',
    '{"format_version": 1, "ui": {"page": ' + '[' * 5000 + ']' * 5000 + '}}',
    '{"format_version": 1, "ui": {"zoom": NaN, "k": "' + "x" * 5000 + '"}, "current_checkpoint": 5}',
    '{"format_version": true}',
    '[]',
])
def test_hostile_documents_open_with_one_line_problems(tmp_path, document):
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "project.json").write_text(document)
    loaded = P.load_project(folder)
    assert loaded.problems and all("\n" not in p and len(p) < 400 for p in loaded.problems)
    assert loaded.project.ui == {} and loaded.project.current_checkpoint is None
    P.save_project(loaded.project)  # what was read can always be written back
    json.loads(loaded.project.file.read_text())
    P.release_lock(folder)
