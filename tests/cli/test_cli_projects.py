"""`cvstudio train --project DIR` and `cvstudio runs DIR [--json]`."""

from __future__ import annotations

import json
from pathlib import Path

from cvstudio.cli import main
from cvstudio.core.projects import load_project, release_lock
from tests.cli.test_cli import _folder_dataset, _json_lines


def test_train_records_runs_in_a_new_project_and_runs_lists_them(tmp_path, capsys):
    data = _folder_dataset(tmp_path / "data", per_class=6)
    project = tmp_path / "proj"
    base = ["train", "--dataset", str(data), "--image-size", "16", "--model", "mlp", "--epochs", "1", "--json",
            "--project", str(project)]
    assert main(base + ["--lr", "0.05"]) == 0
    first = _json_lines(capsys.readouterr().out)[-1]
    assert Path(first["checkpoint"]).parent == project / "runs"
    saved = json.loads((project / "project.json").read_text())  # a new project starts from the run's settings
    assert saved["train_config"]["lr"] == 0.05 and saved["data_config"]["source"] == str(data)
    assert saved["model_spec"]["name"] == "mlp"

    assert main(base + ["--lr", "0.01", "--epochs", "2"]) == 0
    second = _json_lines(capsys.readouterr().out)[-1]
    assert json.loads((project / "project.json").read_text())["train_config"]["lr"] == 0.05  # existing: untouched

    assert main(["runs", str(project), "--json"]) == 0
    rows = _json_lines(capsys.readouterr().out)
    assert len(rows) == 2
    by_checkpoint = {row["checkpoint"]: row for row in rows}
    assert set(by_checkpoint) == {first["checkpoint"], second["checkpoint"]}
    for row, done in ((by_checkpoint[first["checkpoint"]], first), (by_checkpoint[second["checkpoint"]], second)):
        assert row["id"] == Path(done["checkpoint"]).stem and row["model"] == "mlp"
        assert row["val_acc"] == done["val_acc"] and row["train_acc"] == done["train_acc"]
        assert row["epochs"] == done["epochs"] and row["status"] == done["status"] and row["created"]
    assert by_checkpoint[second["checkpoint"]]["lr"] == 0.01 and by_checkpoint[second["checkpoint"]]["epochs"] == 2

    assert main(["runs", str(project)]) == 0
    table = capsys.readouterr().out
    assert Path(first["checkpoint"]).stem in table and "mlp" in table


def test_runs_of_a_project_with_a_damaged_file_still_lists_and_does_not_touch_it(tmp_path, capsys):
    project = tmp_path / "proj"
    (project / "runs").mkdir(parents=True)
    (project / "project.json").write_text("{not json")
    assert main(["runs", str(project), "--json"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and "damaged" in captured.err
    assert (project / "project.json").read_text() == "{not json" and not (project / "project.json.bak").exists()


def test_runs_and_project_bad_input_exit_2_with_one_line(tmp_path, capsys):
    assert main(["runs", str(tmp_path / "nothing")]) == 2
    assert "no project folder" in capsys.readouterr().err
    assert main(["runs", str(tmp_path)]) == 2
    assert "is not a project" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert main(["train", "--epochs", "1", "--project", str(tmp_path / "file")]) == 2
    err = capsys.readouterr().err
    assert "is a file" in err and len(err.strip().splitlines()) == 1
    assert main(["train", "--project", str(tmp_path / "p"), "--out", str(tmp_path / "x.safetensors")]) == 2
    assert "--out and --project" in capsys.readouterr().err


def test_train_into_a_project_open_in_a_window_leaves_its_lock_alone(tmp_path, capsys):
    data = _folder_dataset(tmp_path / "data", per_class=6)
    project = tmp_path / "proj"
    loaded = load_project(project)  # this process holds the lock, as a window would
    lock_before = (project / ".cvstudio-lock").read_text()
    assert main(["train", "--dataset", str(data), "--image-size", "16", "--model", "mlp", "--epochs", "1",
                 "--project", str(project)]) == 0
    assert (project / ".cvstudio-lock").read_text() == lock_before
    assert len(list((project / "runs").glob("*.safetensors"))) == 1
    release_lock(loaded.project.folder)
