import pytest
import torch

from milestones import count_parameters, create_model, list_models
from milestones.data.datasets import DATASETS
from milestones.models import MODELS


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny batches: see conftest.one_thread


def test_mlp_parameter_count_is_the_layer_arithmetic():
    m = create_model("mlp", in_features=784, hidden=(1024, 1024), num_classes=10)
    assert count_parameters(m) == (784 * 1024 + 1024) + (1024 * 1024 + 1024) + (1024 * 10 + 10)
    assert count_parameters(create_model("mlp", in_features=3072)) == 3072 * 1024 + 1024 + 1024 * 1024 + 1024 + 10250


# One example input (C, H, W) per image model, for its default arguments: its data set's (ModelInfo.data), ImageNet's
# streamed crops at 224x224.
IMAGENET = (3, 224, 224)
INPUT_SHAPES = {name: DATASETS[info.data].input_shape or IMAGENET for name, info in MODELS.items()
                if info.input == "image"}
# The papers' (and torchvision's) parameter counts of the ImageNet-scale models, 1000 classes.
IMAGENET_PARAMS = {
    "alexnet224": 60_965_224,  # Krizhevsky et al. 2012: "60 million parameters" (two towers)
    "resnet18": 11_689_512, "resnet34": 21_797_672,  # torchvision's resnet18/34 (option B)
    "resnet50": 25_557_032,  # He et al. Table 3: 25.6M; torchvision's resnet50
    "vit_b16": 86_567_656,  # Dosovitskiy et al. Table 1: 86M; torchvision's vit_b_16
    "vit": 86_567_656,  # ViT's defaults are the paper's ViT-B/16
}


# The sequence models read sequences, not images: tests/test_sequence_eras.py (adding problem) and
# tests/test_translation.py (translators, whose paper-size defaults are far too big for this test) cover them.
SEQUENCE_MODELS = {"lstm", "rnn", "seq2seq", "rnnsearch", "transformer"}


def test_every_model_has_an_example_input_shape():
    assert sorted(INPUT_SHAPES) == sorted(set(MODELS) - SEQUENCE_MODELS)
    assert INPUT_SHAPES["mlp"] == (1, 28, 28) and INPUT_SHAPES["resnet20"] == (3, 32, 32) and INPUT_SHAPES["vit"] == IMAGENET


@pytest.mark.parametrize("name", sorted(INPUT_SHAPES))
def test_every_model_forward_and_backward(name):
    torch.manual_seed(0)
    m = create_model(name)
    batch = 2 if INPUT_SHAPES[name] == IMAGENET else 4
    x = torch.randn(batch, *INPUT_SHAPES[name])
    out = m(x)
    assert out.shape == (batch, 1000 if INPUT_SHAPES[name] == IMAGENET else 10)
    out.sum().backward()
    assert all(p.grad is not None for p in m.parameters())


@pytest.mark.parametrize("name", sorted(IMAGENET_PARAMS))
def test_imagenet_models_have_the_papers_parameter_counts(name):
    with torch.device("meta"):
        assert count_parameters(create_model(name)) == IMAGENET_PARAMS[name]
    with torch.device("meta"):  # one tower: the single-column AlexNet, 1.4M more in conv2, conv4, conv5
        assert count_parameters(create_model("alexnet224", towers=1)) == 62_378_344


def test_imagenet_plain_nets_are_the_resnets_without_shortcuts():
    """Option A shortcuts have no parameters: ResNet-18/34 with them have exactly plain-18/34's weights."""
    with torch.device("meta"):
        for depth in (18, 34):
            plain = count_parameters(create_model(f"plain{depth}"))
            assert plain == count_parameters(create_model(f"resnet{depth}", shortcut="A"))
            assert plain < count_parameters(create_model(f"resnet{depth}"))  # option B adds projections


def test_mlp_overfits_one_batch():
    torch.manual_seed(0)
    m = create_model("mlp", in_features=3 * 8 * 8, hidden=(128,), dropout=0.0, input_dropout=0.0)
    x, y = torch.randn(32, 3, 8, 8), torch.randint(0, 10, (32,))
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    for _ in range(100):
        loss = torch.nn.functional.cross_entropy(m(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.01
    assert (m(x).argmax(1) == y).all()


def test_mlp_rejects_wrong_input_size_clearly():
    with pytest.raises(ValueError, match="expects 784 input features per sample, got 3072"):
        create_model("mlp")(torch.zeros(2, 3, 32, 32))


def test_list_models_rows():
    rows = {r["name"]: r for r in list_models()}
    assert rows["mlp"]["year"] == 1986 and rows["mlp"]["params"] == 1_863_690


def test_the_recorded_parameter_counts_are_the_built_models():
    """`milestones list` prints each model's parameter count from milestones/modelinfo.py (written down, so that
    listing needs no torch): each is the model's own, built with its defaults (on the meta device: shapes only)."""
    from milestones.models import BUILDERS

    with torch.device("meta"):
        built = {name: count_parameters(BUILDERS[name]()) for name in MODELS}
    assert {name: info.params for name, info in MODELS.items()} == built


def test_packed_resnets_train_exactly_as_alone():
    """N ResNet-20s packed into one grouped-convolution net (models/packed.py): the same outputs, and one SGD step
    (momentum, weight decay, BN in training mode), twice, on the sum of their losses gives each model the weights its own
    lone step gives (issue #18: packing must train each model exactly as alone). In float64: in float32 the packed
    and lone kernels sum in different orders, and batch norm over 8 images amplifies that to ~1e-3 of a gradient."""
    from milestones.models.packed import PackedResNet

    torch.manual_seed(0)
    lone = [create_model("resnet20").double() for _ in range(3)]
    for m in lone:  # non-trivial classifier and BN statistics, so that packing them is tested too
        torch.nn.init.normal_(m.fc.weight, std=0.1)
        for bn in (mod for mod in m.modules() if isinstance(mod, torch.nn.BatchNorm2d)):
            bn.running_mean.normal_()
    packed = PackedResNet.pack(lone)
    x = torch.randn(8, 3, 3, 32, 32, dtype=torch.float64)  # (B, N, C, H, W): each model its own 8 images
    y = torch.randint(0, 10, (8, 3))
    for m in lone:
        m.eval()
    packed.eval()
    with torch.no_grad():
        out = packed(x)  # (B, N, 10)
        for i, m in enumerate(lone):
            assert torch.allclose(out[:, i], m(x[:, i]), atol=1e-10)

    def sgd(params):
        return torch.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=5e-4)

    for m in lone:
        m.train()
        opt = sgd(m.parameters())
        for _ in range(2):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(m(x[:, lone.index(m)]), y[:, lone.index(m)]).backward()
            opt.step()
    packed.train()
    opt = sgd(packed.parameters())
    for _ in range(2):
        opt.zero_grad()
        out = packed(x)
        sum(torch.nn.functional.cross_entropy(out[:, i], y[:, i]) for i in range(3)).backward()
        opt.step()
    for i, m in enumerate(lone):
        mine = packed.unpack(i)
        for key, value in m.state_dict().items():
            assert torch.allclose(mine[key], value, atol=1e-9, rtol=0), (i, key)
