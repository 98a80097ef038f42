import pytest
import torch

from cvstudio.core.errors import SpecError
from cvstudio.core.models import PRESETS, add_regularization, build_model, count_params, get_preset, plan_model, summarize
from cvstudio.core.models.codegen import model_source
from cvstudio.core.specs import LayerSpec, ModelSpec

CIFAR = (3, 32, 32)

# The cheatsheet's numbers (PyTorch numel, 2 classes: airplane vs bird).
CHEATSHEET_PARAMS = {
    "mlp": 393_602,
    "mlp-wide": 1_574_402,
    "mlp-deep": 3_737_474,
    "convnet": 18_090,
    "convnet-relu": 18_090,
    "convnet-width": 38_386,
}


@pytest.mark.parametrize("name,expected", CHEATSHEET_PARAMS.items())
def test_preset_parameter_counts_match_cheatsheet(name, expected):
    model = build_model(get_preset(name), CIFAR, 2)
    assert count_params(model) == expected
    assert summarize(get_preset(name), CIFAR, 2).total_params == expected


def test_convnet_width_knob_matches_cheatsheet_formula():
    # Conv(3,W), Conv(W,W/2), Linear(8*8*W/2, 32), Linear(32, 2)
    for w in (8, 16, 32, 64):
        expected = (3 * 9 * w + w) + (w * 9 * (w // 2) + w // 2) + (64 * (w // 2) * 32 + 32) + (32 * 2 + 2)
        assert count_params(build_model(get_preset("convnet-width", width=w), CIFAR, 2)) == expected


def test_cheatsheet_module_structure():
    model = build_model(get_preset("convnet"), CIFAR, 2)
    names = [n for n, _ in model.named_children()]
    assert names == ["conv1", "act1", "pool1", "conv2", "act2", "pool2", "flatten1", "fc1", "act3", "fc2"]
    assert isinstance(model.act1, torch.nn.Tanh)
    assert model.fc1.in_features == 512  # 8 channels x 8 x 8, inferred
    mlp = build_model(get_preset("mlp"), CIFAR, 2)
    assert isinstance(mlp[-1], torch.nn.LogSoftmax) and get_preset("mlp").loss == "nll"


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_runs_forward_on_several_inputs(name):
    for shape, classes in ((CIFAR, 2), ((1, 28, 28), 10), ((3, 32, 32), 7)):
        model = build_model(get_preset(name), shape, classes).eval()
        with torch.no_grad():
            assert model(torch.zeros(2, *shape)).shape == (2, classes)


def test_regularization_knobs_insert_layers_once():
    spec = get_preset("convnet", dropout=0.3, batchnorm=True)
    kinds = [l.kind for l in spec.layers]
    assert kinds.count("batchnorm") == 3  # after both convs and the hidden linear
    assert kinds.count("dropout") == 3  # after both pools and the hidden activation
    assert add_regularization(spec, dropout=0.3, batchnorm=True) == spec
    model = build_model(spec, CIFAR, 2)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert any(isinstance(m, torch.nn.BatchNorm1d) for m in model.modules())


def test_resnet_has_skip_connections_and_depth_knob():
    shallow = build_model(get_preset("resnet", depth=1), CIFAR, 2)
    deep = build_model(get_preset("resnet", depth=4), CIFAR, 2)
    assert count_params(deep) > count_params(shallow)
    assert sum(1 for n, _ in deep.named_children() if n.startswith("res")) == 5


def test_summary_shapes():
    s = summarize(get_preset("convnet"), CIFAR, 2)
    shapes = {l.name: l.out_shape for l in s.layers}
    assert shapes["conv1"] == (16, 32, 32) and shapes["pool1"] == (16, 16, 16)
    assert shapes["pool2"] == (8, 8, 8) and shapes["flatten1"] == (512,) and shapes["fc2"] == (2,)


def test_padding_and_pooling_shape_rules():
    for padding, expected in ((0, 30), (1, 32)):
        spec = ModelSpec("t", (LayerSpec("conv", out=1, kernel=3, padding=padding), LayerSpec("linear")))
        assert summarize(spec, CIFAR, 2).layers[0].out_shape == (1, expected, expected)
    spec = ModelSpec("t", (LayerSpec("maxpool", kernel=2), LayerSpec("linear")))
    assert summarize(spec, CIFAR, 2).layers[0].out_shape == (3, 16, 16)


def test_pooling_a_1x1_map_names_the_layer():
    layers = [LayerSpec("conv", out=4, kernel=3, padding=1)] + [LayerSpec("maxpool", kernel=2)] * 6 + [LayerSpec("linear")]
    with pytest.raises(SpecError) as err:
        plan_model(ModelSpec("t", tuple(layers)), CIFAR, 2)
    assert err.value.layer_index == 6
    assert "layer 7 (maxpool 2)" in str(err.value) and "1x1" in str(err.value)


@pytest.mark.parametrize(
    "layers,index,text",
    [
        ([LayerSpec("conv", out=4, kernel=40), LayerSpec("linear")], 0, "does not fit the 32x32 input"),
        ([LayerSpec("linear", out=10), LayerSpec("conv", out=4), LayerSpec("linear")], 1, "image-shaped input"),
        ([LayerSpec("linear", out=10)], 0, "one score per class"),
        ([LayerSpec("logsoftmax"), LayerSpec("linear")], 0, "must be the last layer"),
        ([LayerSpec("dropout", p=1.5), LayerSpec("linear")], 0, "dropout probability"),
        ([LayerSpec("conv", out=0), LayerSpec("linear")], 0, "at least 1"),
    ],
)
def test_impossible_specs_raise_clear_errors(layers, index, text):
    with pytest.raises(SpecError) as err:
        plan_model(ModelSpec("t", tuple(layers)), CIFAR, 2)
    assert text in str(err.value)
    assert err.value.layer_index == index


def test_spec_json_round_trip_and_unknown_layer():
    for name in PRESETS:
        spec = get_preset(name, dropout=0.2, batchnorm=True)
        assert ModelSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(SpecError, match="unknown layer type 'transformer'"):
        ModelSpec.from_dict({"name": "x", "layers": [{"kind": "transformer"}]})


@pytest.mark.parametrize("name", ["convnet", "mlp", "resnet", "convnet-batchnorm", "airbench"])
def test_code_export_builds_an_identical_model(name):
    spec = get_preset(name, depth=1) if name == "resnet" else get_preset(name)
    model = build_model(spec, CIFAR, 3).eval()
    namespace: dict = {}
    exec(compile(model_source(spec, CIFAR, 3), "<export>", "exec"), namespace)
    clone = namespace["Net"]().eval()
    clone.load_state_dict(model.state_dict())  # same names and shapes
    x = torch.randn(4, *CIFAR)
    with torch.no_grad():
        assert torch.equal(model(x), clone(x))
