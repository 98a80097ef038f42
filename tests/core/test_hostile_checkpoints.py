"""Crafted checkpoints (issue 10): hostile strings never become code, crafted numbers are refused
with one plain line, and saves clean up after writers that died."""

from __future__ import annotations

import ast
import os
import stat
import time

import pytest
import torch
from PIL import Image

from cvstudio.cli import main
from cvstudio.core.atomic import STALE_TEMP_AGE_S, remove_stale_temps
from cvstudio.core.checkpoints import MAX_INPUT_SIDE, CheckpointMeta, load_checkpoint, read_meta, save_checkpoint
from cvstudio.core.errors import CheckpointError, SpecError
from cvstudio.core.export import ExportError, check_generated_source, export_checkpoint, python_module_source
from cvstudio.core.models import build_model, get_preset
from cvstudio.core.specs import MAX_LAYER_SIZE, ModelSpec, check_model_name
from tests.core.crafted import HOSTILE_STRINGS, crafted_checkpoint, hostile


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / "code-ran"
    yield path
    assert not path.exists(), "a string from a checkpoint ran as code"


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "image.png"
    Image.new("RGB", (40, 30), "red").save(path)
    return path


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _one_plain_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line, got:\n{err}"
    assert "Traceback" not in err and "error:" in lines[0]
    return lines[0]


# --- strings ----------------------------------------------------------------------------------


@pytest.mark.parametrize("text", HOSTILE_STRINGS, ids=range(len(HOSTILE_STRINGS)))
def test_hostile_model_name_is_refused_everywhere(tmp_path, capsys, marker, image, text):
    def edit(doc):
        doc["model_spec"]["name"] = hostile(text, marker)

    ckpt = crafted_checkpoint(tmp_path / "m.safetensors", edit)
    for argv in (("info", ckpt), ("info", ckpt, "--json"), ("classify", ckpt, image),
                 ("export", ckpt, "--format", "python", "--out", tmp_path / "m.py")):
        code, _, err = _run(capsys, *argv)
        assert code == 2, argv
        assert "model name" in _one_plain_line(err)
    assert not (tmp_path / "m.py").exists()


@pytest.mark.parametrize("text", HOSTILE_STRINGS, ids=range(len(HOSTILE_STRINGS)))
def test_hostile_text_fields_stay_data_through_info_classify_and_python_export(tmp_path, capsys, marker, image, text):
    evil = hostile(text, marker)
    classes = [evil, evil + "2", "plain"]

    def edit(doc):
        doc["class_names"] = classes
        doc["dataset"] = evil
        doc["app_version"] = evil
        doc["data_config"]["source"] = evil

    ckpt = crafted_checkpoint(tmp_path / "m.safetensors", edit)
    code, out, _ = _run(capsys, "info", ckpt)
    assert code == 0 and "parameters" in out
    code, out, _ = _run(capsys, "info", ckpt, "--json")
    assert code == 0 and '"class_names"' in out
    code, out, _ = _run(capsys, "classify", ckpt, image, "--json")
    assert code == 0 and '"label"' in out

    py = tmp_path / "exported.py"
    code, out, err = _run(capsys, "export", ckpt, "--format", "python", "--out", py)
    assert code == 0, err
    # The strings come back exactly, as literals, without running the file.
    values = {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in ast.parse(py.read_text(encoding="utf-8")).body
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
        and node.targets[0].id in ("CLASSES", "TRAINED_ON", "EXPORTED_BY")
    }
    assert values == {"CLASSES": classes, "TRAINED_ON": evil, "EXPORTED_BY": "CV Studio " + evil}


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_hostile_text_fields_through_binary_exports(tmp_path, capsys, marker, fmt):
    evil = hostile(HOSTILE_STRINGS[0], marker)

    def edit(doc):
        doc["class_names"] = [evil, "b", "c"]
        doc["dataset"] = evil

    ckpt = crafted_checkpoint(tmp_path / "m.safetensors", edit)
    code, _, err = _run(capsys, "export", ckpt, "--format", fmt, "--out", tmp_path / f"m.{fmt}")
    assert code == 0, err


def test_generated_code_that_differs_from_the_template_is_refused():
    spec = get_preset("convnet")
    meta = CheckpointMeta(model_spec=spec, class_names=("a", "b"), input_shape=(3, 32, 32),
                          mean=(0.5,) * 3, std=(0.2,) * 3)
    source = python_module_source(meta)
    check_generated_source(source, meta)  # the generator's own output passes
    for tampered in (source + "\nimport os\n", source.replace("CLASSES = ['a', 'b']", "CLASSES = ['a'] + ['b']"),
                     source + "\nprint(1)\n", "this is not python ("):
        with pytest.raises(ExportError, match="crafted"):
            check_generated_source(tampered, meta)


def test_a_name_that_bypassed_validation_is_still_only_a_literal():
    spec = get_preset("convnet")
    object.__setattr__(spec, "name", '"""\nimport os\n"""')  # as if validation had a hole
    meta = CheckpointMeta(model_spec=spec, class_names=("a", "b"), input_shape=(3, 32, 32),
                          mean=(0.5,) * 3, std=(0.2,) * 3)
    source = python_module_source(meta)
    check_generated_source(source, meta)
    tree = ast.parse(source)
    assert not [n for n in tree.body if isinstance(n, ast.Import) and n.names[0].name == "os"]  # load() imports os inside
    assert '"""\nimport os\n"""' in [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)]


@pytest.mark.parametrize("name", ["convnet", "convnet-edited", "my net (v2)", "réseau_1", "a/b #3"])
def test_ordinary_model_names_are_accepted(name):
    assert check_model_name(name) == name


@pytest.mark.parametrize("name", ["", " ", "a" * 65, 'a"b', "a'b", "a\\b", "a\nb", "a\u2028b", "{x}", 7])
def test_bad_model_names_are_refused(name):
    with pytest.raises(SpecError):
        check_model_name(name)
    with pytest.raises(SpecError):
        ModelSpec(name=name, layers=get_preset("convnet").layers)


# --- numbers and structure ------------------------------------------------------------------------


def _layer(doc, kind):
    return next(layer for layer in doc["model_spec"]["layers"] if layer["kind"] == kind)


CRAFTED_NUMBERS = {
    "infinite units": lambda d: _layer(d, "conv").update(out=float("inf")),
    "NaN kernel": lambda d: _layer(d, "conv").update(kernel=float("nan")),
    "huge channel count": lambda d: _layer(d, "conv").update(out=10**30),
    "units over the cap": lambda d: _layer(d, "conv").update(out=MAX_LAYER_SIZE + 1),
    "zero stride": lambda d: _layer(d, "conv").update(stride=0),
    "negative padding": lambda d: _layer(d, "conv").update(padding=-1),
    "NaN dropout": lambda d: d["model_spec"]["layers"].insert(2, {"kind": "dropout", "p": float("nan")}),
    "input side 10**30": lambda d: d.update(input_shape=[3, 10**30, 32]),
    "input side over the cap": lambda d: d.update(input_shape=[3, MAX_INPUT_SIDE + 1, 32]),
    "infinite input side": lambda d: d.update(input_shape=[3, float("inf"), 32]),
    "NaN mean": lambda d: d.update(mean=[float("nan")] * 3),
    "infinite std": lambda d: d.update(std=[float("inf")] * 3),
    "infinite learning rate": lambda d: d["train_config"].update(lr=float("inf")),
    "negative seed": lambda d: d["train_config"].update(seed=-1),
    "NaN momentum": lambda d: d["train_config"].update(momentum=float("nan")),
    "NaN epochs": lambda d: d["train_config"].update(epochs=float("nan")),
    "nested class names": lambda d: d.update(class_names=[["a"], "b", "c"]),
    "unknown activation": lambda d: _layer(d, "activation").update(fn="__import__('os')"),
}


@pytest.mark.parametrize("case", sorted(CRAFTED_NUMBERS))
def test_crafted_numbers_are_refused_with_one_line(tmp_path, capsys, image, case):
    ckpt = crafted_checkpoint(tmp_path / "m.safetensors", CRAFTED_NUMBERS[case])
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(ckpt)
    assert "\n" not in str(info.value)
    for argv in (("info", ckpt), ("classify", ckpt, image)):
        code, _, err = _run(capsys, *argv)
        assert code == 2, (case, argv, err)
        _one_plain_line(err)


def test_deeply_nested_metadata_is_refused(tmp_path, capsys):
    depth = 200_000
    ckpt = crafted_checkpoint(tmp_path / "m.safetensors", raw_metadata="[" * depth + "]" * depth)
    with pytest.raises(CheckpointError, match="nested too deeply"):
        read_meta(ckpt)
    code, _, err = _run(capsys, "info", ckpt)
    assert code == 2 and "nested too deeply" in _one_plain_line(err)


def test_a_model_too_big_to_allocate_is_refused_before_allocating(tmp_path, capsys, image):
    def edit(doc):  # 8192x8192 input: the first linear layer alone would need ~35e9 weights
        doc["input_shape"] = [3, MAX_INPUT_SIDE, MAX_INPUT_SIDE]
        _layer(doc, "linear").update(out=1024)

    ckpt = crafted_checkpoint(tmp_path / "m.safetensors", edit)
    with pytest.raises(CheckpointError, match="parameters, more than"):
        load_checkpoint(ckpt)
    code, _, err = _run(capsys, "classify", ckpt, image)
    assert code == 2 and "parameters" in _one_plain_line(err)


# --- files ----------------------------------------------------------------------------------------


def _small_model():
    spec = get_preset("convnet")
    model = build_model(spec, (3, 32, 32), 2)
    meta = CheckpointMeta(model_spec=spec, class_names=("a", "b"), input_shape=(3, 32, 32),
                          mean=(0.5,) * 3, std=(0.2,) * 3)
    return model, meta


def test_a_save_removes_temp_files_of_writers_that_died(tmp_path):
    model, meta = _small_model()
    old = time.time() - STALE_TEMP_AGE_S - 60
    stale = tmp_path / ".model.safetensors.deadbeef.tmp"
    fresh = tmp_path / ".model.safetensors.0badcafe.tmp"  # a writer still at work
    foreign = tmp_path / ".notes.tmp"  # not our pattern
    users = tmp_path / "model.safetensors.deadbeef.tmp"  # no leading dot: the user's own file
    for path in (stale, fresh, foreign, users):
        path.write_bytes(b"partial")
    for path in (stale, foreign, users):
        os.utime(path, (old, old))
    save_checkpoint(tmp_path / "model.safetensors", model, meta)
    assert not stale.exists() and fresh.exists() and foreign.exists() and users.exists()
    assert remove_stale_temps(tmp_path) == []


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


@pytest.mark.parametrize("fmt, suffix", [("python", ".py"), ("torchscript", ".pt"), ("onnx", ".onnx")])
def test_exports_get_the_permissions_of_any_saved_file(tmp_path, umask_022, fmt, suffix):
    model, meta = _small_model()
    ckpt = save_checkpoint(tmp_path / "model.safetensors", model, meta)
    out = export_checkpoint(ckpt, fmt, tmp_path / f"model{suffix}").path
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    assert stat.S_IMODE(ckpt.stat().st_mode) == 0o644


def test_state_dict_values_survive_a_round_trip_through_the_atomic_writer(tmp_path):
    model, meta = _small_model()
    path = save_checkpoint(tmp_path / "m.safetensors", model, meta)
    loaded = load_checkpoint(path)
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[key], value)
