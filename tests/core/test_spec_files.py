"""Architecture files: round trip, and damaged or hostile files refused with one line."""

from __future__ import annotations

import json

import pytest

from cvstudio.core.errors import SpecError
from cvstudio.core.models import get_preset
from cvstudio.core.spec_files import MAX_SPEC_BYTES, load_spec, save_spec, spec_document
from cvstudio.core.specs import LayerSpec, ModelSpec


@pytest.mark.parametrize("name", ["mlp", "convnet", "resnet", "convnet-dropout"])
def test_round_trip(tmp_path, name):
    spec = get_preset(name)
    path = tmp_path / "net.json"
    save_spec(spec, path)
    assert load_spec(path) == spec
    assert json.loads(path.read_text())["format"] == "cvstudio-model-spec"


def test_bare_spec_objects_load_too(tmp_path):
    spec = ModelSpec("tiny", (LayerSpec("linear", out=8), LayerSpec("activation", fn="tanh"), LayerSpec("linear")))
    path = tmp_path / "bare.json"
    path.write_text(json.dumps(spec.to_dict()))
    assert load_spec(path) == spec


def test_saving_replaces_atomically_and_keeps_the_old_file_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "net.json"
    save_spec(get_preset("mlp"), path)
    before = path.read_bytes()
    import cvstudio.core.spec_files as spec_files

    def broken(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(spec_files.json, "dumps", lambda *a, **k: "{}")
    monkeypatch.setattr("pathlib.Path.write_text", broken)
    with pytest.raises(SpecError, match="No space left"):
        save_spec(get_preset("convnet"), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["net.json"]


def _doc(spec_dict) -> str:
    return json.dumps({"format": "cvstudio-model-spec", "version": 1, "model_spec": spec_dict})


HOSTILE = {
    "not json": (b"{not json", "not valid JSON"),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00", "not valid JSON"),
    "nan": (_doc({"name": "x", "layers": [{"kind": "dropout", "p": float("nan")}]}).encode(), "NaN"),
    "infinity": (b'{"name": "x", "layers": [{"kind": "linear", "out": Infinity}]}', "Infinity"),
    "deep": (b"[" * 100_000 + b"]" * 100_000, "nested too deeply|not valid JSON"),
    "huge number": (_doc({"name": "x", "layers": [{"kind": "linear", "out": 10**30}]}).encode(), "size"),
    "negative": (_doc({"name": "x", "layers": [{"kind": "conv", "out": -3}]}).encode(), "size"),
    "bool size": (_doc({"name": "x", "layers": [{"kind": "conv", "out": True}]}).encode(), "size"),
    "unknown kind": (_doc({"name": "x", "layers": [{"kind": "__import__('os')"}]}).encode(), "unknown layer type"),
    "unknown field": (_doc({"name": "x", "layers": [{"kind": "linear", "exec": 1}]}).encode(), "unknown settings"),
    "bad name": (_doc({"name": '"""; import os', "layers": []}).encode(), "name"),
    "list": (b"[1, 2, 3]", "must be an object"),
    "other format": (b'{"format": "evil", "version": 1, "model_spec": {}}', "not a CV Studio architecture"),
    "newer": (json.dumps({"format": "cvstudio-model-spec", "version": 99, "model_spec": {}}).encode(), "newer"),
    "too many layers": (_doc({"name": "x", "layers": [{"kind": "flatten"}] * 5000}).encode(), "at most"),
    "too big": (b" " * (MAX_SPEC_BYTES + 10), "larger than"),
    "unknown spec key": (_doc({"name": "x", "layers": [], "exec": "rm"}).encode(), "not a valid model spec|unknown"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_damaged_or_hostile_files_give_one_line(tmp_path, case):
    raw, message = HOSTILE[case]
    path = tmp_path / "net.json"
    path.write_bytes(raw)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    text = str(info.value)
    assert "\n" not in text and len(text) < 300
    import re

    assert re.search(message, text), text


def test_missing_file(tmp_path):
    with pytest.raises(SpecError, match="cannot read"):
        load_spec(tmp_path / "nope.json")


def test_document_shape():
    doc = spec_document(get_preset("mlp"))
    assert doc["version"] == 1 and doc["model_spec"]["name"] == "mlp"
