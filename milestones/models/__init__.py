"""The model zoo: one module per era and one explicit table of builders, and the trained weights that ship.

`create_model("mlp", in_features=3072)` calls the builder with keyword arguments: the object it returns is
exactly what the trainer trains. `create_model("resnet20", weights="cifar10")` (or `weights="DEFAULT"`) builds the
model a registry entry was trained as and loads its weights (milestones/pretrained.py), in eval mode, with the
entry on `model.weights` and its data meta (class names, normalisation, vocabularies) on `model.meta`, as timm's
`pretrained_cfg`. `load_weights("resnet20_cifar10")` does the same by entry name. `list_models("resnet*",
pretrained=True)` gives each model's era, year, paper, parameter count and weights.
"""

from __future__ import annotations

import inspect
import sys
import typing
from typing import Any, Callable, Optional

from torch import nn

# The facts of each model and their listing need no torch (milestones/modelinfo.py, milestones/catalog.py); they are
# imported here too, so that `from milestones.models import MODELS, model_info, list_models` finds them beside the
# builders.
from ..catalog import list_models  # noqa: F401
from ..errors import WeightsError, mismatch_detail
from ..modelinfo import MODELS, ModelInfo, model_info  # noqa: F401
from ..pretrained import WeightsEntry, get_weights, read_weights, weights_for
from ..typecheck import check_type  # the same checker the config sections use
from .alexnet import AlexNet, AlexNet224
from .lenet import LeNet5
from .lstm import adding_lstm, adding_rnn
from .mlp import MLP
from .resnet import (ResNet, plain20, plain32, plain44, plain56, plain110, resnet20, resnet32, resnet44, resnet56,
                     resnet110)
from .resnet_imagenet import plain18, plain34, resnet18, resnet34, resnet50
from .rnnsearch import RNNsearch
from .seq2seq import Seq2Seq
from .transformer import Transformer
from .vit import ViT, vit_b16, vit_small, vit_tiny


# Each model's builder, by name; its facts (era, paper, family, depth, head, parameter count) are the table MODELS of
# milestones/modelinfo.py, kept apart so that listing the models needs no torch.
BUILDERS: dict[str, Callable[..., nn.Module]] = {
    "mlp": MLP, "lenet5": LeNet5, "alexnet": AlexNet, "alexnet224": AlexNet224,
    "resnet20": resnet20, "resnet32": resnet32, "resnet44": resnet44, "resnet56": resnet56, "resnet110": resnet110,
    "plain20": plain20, "plain32": plain32, "plain44": plain44, "plain56": plain56, "plain110": plain110,
    "resnet": ResNet, "resnet18": resnet18, "resnet34": resnet34, "resnet50": resnet50,
    "plain18": plain18, "plain34": plain34,
    "vit_tiny": vit_tiny, "vit_small": vit_small, "vit_b16": vit_b16, "vit": ViT,
    "lstm": adding_lstm, "rnn": adding_rnn, "seq2seq": Seq2Seq, "rnnsearch": RNNsearch, "transformer": Transformer,
}
assert BUILDERS.keys() == MODELS.keys(), "every model has both a builder and its facts (milestones/modelinfo.py)"


def _info(name: str) -> ModelInfo:
    if name not in MODELS:
        raise KeyError(f"unknown model '{name}' (known: {', '.join(sorted(MODELS))})")
    return MODELS[name]


def _builder(name: str) -> Callable[..., nn.Module]:
    return BUILDERS[_info(name).name]  # an unknown name: _info's KeyError, which names the known ones


def builder_arguments(name: str) -> list[str]:
    """The keyword arguments the builder of `name` takes (KeyError for an unknown model)."""
    builder = _builder(name)
    target = builder.__init__ if inspect.isclass(builder) else builder
    return [p for p in inspect.signature(target).parameters if p != "self"]


def check_model_args(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """Check `args` against the builder's keyword arguments and their annotations; return them type-converted.

    Raises KeyError for an unknown model and TypeError (with a one-line message naming `model.<key>`) for an
    unknown argument or a wrong type.
    """
    builder = _builder(name)
    hints = typing.get_type_hints(builder.__init__ if inspect.isclass(builder) else builder)
    known = builder_arguments(name)
    checked = {}
    for key, value in args.items():
        if key not in known:
            raise TypeError(f"unknown key 'model.{key}' for model '{name}' (its arguments: {', '.join(known)})")
        try:
            checked[key] = check_type(value, hints.get(key, Any))
        except TypeError as e:
            raise TypeError(f"model.{key}: {e}") from None
    return checked


def create_model(name: str, weights: Optional[str] = None, **kwargs: Any) -> nn.Module:
    """Build a model by name with the builder's keyword arguments (defaults: the paper's values).

    `weights`: "DEFAULT", a tag of one of the model's registry entries ("cifar10") or an entry's full name; the
    model is then built with the entry's arguments and returned in eval mode. Other arguments must agree with the
    entry's, but for `num_classes`: another number of classes loads every tensor but the classifier head, which
    starts fresh for them (timm's way of fine-tuning; one line on stderr says so).
    """
    if weights is None:
        return _builder(name)(**kwargs)
    _info(name)  # an unknown model is named as such, not as missing weights
    return _pretrained(weights_for(name, weights), kwargs)


def load_weights(name: str) -> nn.Module:
    """The model of registry entry `name` (e.g. "resnet20_cifar10") with its trained weights, in eval mode."""
    return _pretrained(get_weights(name), {})


def head_of(model: nn.Module, name: str) -> str:
    """The state-dict prefix of the classifier head of `model`, a `name` model ("fc", "classifier.6"), from its
    ModelInfo.head; a WeightsError for a model without one (a translator's output layer is its vocabulary)."""
    path = _info(name).head
    if path is None:
        raise WeightsError(f"model '{name}' has no classifier head to replace or train alone (models with one: "
                           f"{', '.join(n for n, i in MODELS.items() if i.head)})")
    module, parts = model, []
    for part in path.split("."):
        if part.lstrip("-").isdigit():  # a Sequential's layer, counted from its end when negative
            index = int(part) % len(module)
            module, part = module[index], str(index)
        else:
            module = getattr(module, part)
        parts.append(part)
    return ".".join(parts)


def freeze_backbone(model: nn.Module, name: str) -> str:
    """Train the classifier head of `model` (a `name` model) alone: every other parameter stops taking gradients
    (trainer.freeze: backbone). Returns the one line that says what trains."""
    head = head_of(model, name)
    for key, p in model.named_parameters():
        p.requires_grad_(key.startswith(head + "."))
    trained = count_parameters(model)
    return (f"milestones: trainer.freeze: training the classifier head '{head}' alone ({trained:,} of "
            f"{sum(p.numel() for p in model.parameters()):,} parameters); the backbone, batch-norm statistics "
            f"included, stays as it starts")


def keep_frozen_norms(model: nn.Module) -> None:
    """After `model.train()`: batch norms whose weights are frozen normalise with their running statistics and keep
    them (eval mode), as torchvision's FrozenBatchNorm2d and timm's freeze do; trained, they would drift."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.weight is not None and not m.weight.requires_grad:
            m.eval()


def builder_defaults(name: str) -> dict[str, Any]:
    """The default values of the builder's keyword arguments (KeyError for an unknown model)."""
    builder = _builder(name)
    target = builder.__init__ if inspect.isclass(builder) else builder
    return {p.name: p.default for p in inspect.signature(target).parameters.values()
            if p.default is not inspect.Parameter.empty}


def _pretrained(entry: WeightsEntry, kwargs: dict[str, Any]) -> nn.Module:
    args = dict(entry.model_args)
    trained = {**builder_defaults(entry.model), **args}  # what the weights were built with, the defaults included
    for k, v in kwargs.items():
        if k not in trained:
            raise WeightsError(f"model '{entry.model}' takes no argument {k} (its arguments: "
                               f"{', '.join(builder_arguments(entry.model))})")
        if k != "num_classes" and trained[k] != v:
            raise WeightsError(f"weights '{entry.name}' were trained with {k}={trained[k]!r}, not {v!r}; only "
                               f"num_classes may change (a new head); build without weights to change {k}")
    classes = kwargs.get("num_classes", trained.get("num_classes"))
    new_head = classes != trained.get("num_classes")
    if new_head and (not isinstance(classes, int) or isinstance(classes, bool) or classes < 1):
        raise WeightsError(f"num_classes must be an integer >= 1, got {classes!r}")
    state, meta = read_weights(entry)
    model = _builder(entry.model)(**args, **({"num_classes": classes} if new_head else {}))
    try:
        if new_head:
            head = head_of(model, entry.model)
            trained_classes = state[f"{head}.weight"].shape[0]
            body = {k: v for k, v in state.items() if not k.startswith(head + ".")}
            unexpected = model.load_state_dict(body, strict=False).unexpected_keys  # (wrong shapes still raise)
            missing = [k for k in model.state_dict() if k not in state]
            if missing or unexpected:  # every tensor but the head's comes from the file, and nothing else
                raise RuntimeError(f"{'missing' if missing else 'unexpected'} key(s): "
                                   f"{', '.join((missing or unexpected)[:3])}")
        else:
            model.load_state_dict(state)
    except (RuntimeError, KeyError) as e:
        raise WeightsError(f"{entry.path}: does not fit model '{entry.model}' ({mismatch_detail(e)[:160]}); "
                           f"nothing loaded") from None
    if new_head:
        print(f"milestones: {entry.name}: every tensor loaded but the classifier head '{head}' ({trained_classes} "
              f"classes), which starts fresh for {classes} classes", file=sys.stderr)
        meta = {k: v for k, v in meta.items() if k != "classes"}  # the entry's class names are not the new head's
    model.weights, model.meta = entry, meta
    return model.eval()


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
