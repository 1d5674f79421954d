"""The model zoo: one module per era and one explicit table of builders, and the trained weights that ship.

`create_model("mlp", in_features=3072)` calls the builder with keyword arguments: the object it returns is
exactly what the trainer trains. `create_model("resnet20", weights="cifar10")` (or `weights="DEFAULT"`) builds the
model a registry entry was trained as and loads its weights (milestones/pretrained.py), in eval mode, with the
entry on `model.weights` and its data meta (class names, normalisation, vocabularies) on `model.meta`, as timm's
`pretrained_cfg`. `load_weights("resnet20_cifar10")` does the same by entry name. `list_models("resnet*",
pretrained=True)` gives each model's era, year, paper, parameter count and weights.
"""

from __future__ import annotations

import fnmatch
import inspect
import typing
from dataclasses import dataclass
from typing import Any, Callable, Optional

import torch
from torch import nn

from ..errors import WeightsError, mismatch_detail
from ..pretrained import WeightsEntry, get_weights, read_weights, registry, weights_for
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


@dataclass(frozen=True)
class ModelInfo:
    name: str
    builder: Callable[..., nn.Module]
    era: str
    year: int
    paper: str


MODELS: dict[str, ModelInfo] = {
    info.name: info
    for info in [
        ModelInfo("mlp", MLP, "MLP", 1986,
                  "Rumelhart, Hinton & Williams 1986; dropout: Srivastava et al. 2014 (arXiv:1207.0580)"),
        ModelInfo("lenet5", LeNet5, "CNN 1998", 1998,
                  "LeCun, Bottou, Bengio & Haffner 1998, Gradient-based learning applied to document recognition"),
        ModelInfo("alexnet", AlexNet, "CNN 2012", 2012,
                  "Krizhevsky, Sutskever & Hinton 2012, ImageNet Classification with Deep CNNs (NeurIPS)"),
        ModelInfo("alexnet224", AlexNet224, "CNN 2012", 2012,
                  "Krizhevsky, Sutskever & Hinton 2012, ImageNet Classification with Deep CNNs (NeurIPS): the "
                  "paper's 224x224 model, two towers as grouped convolutions, 61M params"),
        ModelInfo("resnet20", resnet20, "ResNet 2015", 2015,
                  "He, Zhang, Ren & Sun 2015, Deep Residual Learning (arXiv:1512.03385), Table 6: ResNet-20"),
        ModelInfo("resnet32", resnet32, "ResNet 2015", 2015,
                  "He, Zhang, Ren & Sun 2015, Deep Residual Learning (arXiv:1512.03385), Table 6: ResNet-32"),
        ModelInfo("resnet44", resnet44, "ResNet 2015", 2015,
                  "He, Zhang, Ren & Sun 2015, Deep Residual Learning (arXiv:1512.03385), Table 6: ResNet-44"),
        ModelInfo("resnet56", resnet56, "ResNet 2015", 2015,
                  "He, Zhang, Ren & Sun 2015, Deep Residual Learning (arXiv:1512.03385), Table 6: ResNet-56"),
        ModelInfo("resnet110", resnet110, "ResNet 2015", 2015,
                  "He, Zhang, Ren & Sun 2015, Deep Residual Learning (arXiv:1512.03385), Table 6: ResNet-110"),
        ModelInfo("plain20", plain20, "ResNet 2015", 2015,
                  "He, Zhang, Ren & Sun 2015, Deep Residual Learning (arXiv:1512.03385), Fig. 6: plain-20"),
        ModelInfo("plain32", plain32, "ResNet 2015", 2015,
                  "He, Zhang, Ren & Sun 2015, Deep Residual Learning (arXiv:1512.03385), Fig. 6: plain-32"),
        ModelInfo("plain44", plain44, "ResNet 2015", 2015,
                  "He, Zhang, Ren & Sun 2015, Deep Residual Learning (arXiv:1512.03385), Fig. 6: plain-44"),
        ModelInfo("plain56", plain56, "ResNet 2015", 2015,
                  "He, Zhang, Ren & Sun 2015, Deep Residual Learning (arXiv:1512.03385), Fig. 6: plain-56"),
        ModelInfo("plain110", plain110, "ResNet 2015", 2015,
                  "He, Zhang, Ren & Sun 2015, Deep Residual Learning (arXiv:1512.03385), plain twin of ResNet-110"),
        ModelInfo("resnet", ResNet, "ResNet 2015", 2015,
                  "He, Zhang, Ren & Sun 2015, Deep Residual Learning (arXiv:1512.03385), Sec. 4.2: any depth 6n+2"),
        ModelInfo("resnet18", resnet18, "ResNet 2015", 2015,
                  "He, Zhang, Ren & Sun 2015, Deep Residual Learning (arXiv:1512.03385), Table 1: ImageNet ResNet-18"),
        ModelInfo("resnet34", resnet34, "ResNet 2015", 2015,
                  "He, Zhang, Ren & Sun 2015, Deep Residual Learning (arXiv:1512.03385), Table 1: ImageNet ResNet-34"),
        ModelInfo("resnet50", resnet50, "ResNet 2015", 2015,
                  "He, Zhang, Ren & Sun 2015, Deep Residual Learning (arXiv:1512.03385), Table 1: ImageNet ResNet-50"),
        ModelInfo("plain18", plain18, "ResNet 2015", 2015,
                  "He, Zhang, Ren & Sun 2015, Deep Residual Learning (arXiv:1512.03385), Table 2 / Fig. 4: plain-18"),
        ModelInfo("plain34", plain34, "ResNet 2015", 2015,
                  "He, Zhang, Ren & Sun 2015, Deep Residual Learning (arXiv:1512.03385), Table 2 / Fig. 4: plain-34"),
        ModelInfo("vit_tiny", vit_tiny, "ViT 2020", 2020,
                  "Dosovitskiy et al. 2020, An Image is Worth 16x16 Words (arXiv:2010.11929); CIFAR size, 2.3M params"),
        ModelInfo("vit_small", vit_small, "ViT 2020", 2020,
                  "Dosovitskiy et al. 2020, An Image is Worth 16x16 Words (arXiv:2010.11929); CIFAR size, 6.0M params"),
        ModelInfo("vit_b16", vit_b16, "ViT 2020", 2020,
                  "Dosovitskiy et al. 2020, An Image is Worth 16x16 Words (arXiv:2010.11929), Table 1: ViT-B/16 at "
                  "224x224, 86.6M params"),
        ModelInfo("vit", ViT, "ViT 2020", 2020,
                  "Dosovitskiy et al. 2020, An Image is Worth 16x16 Words (arXiv:2010.11929); any size"),
        ModelInfo("lstm", adding_lstm, "RNN 1997", 1997,
                  "Hochreiter & Schmidhuber 1997, Long Short-Term Memory (Neural Computation), with the forget "
                  "gate of Gers et al. 2000; adding problem, Sec. 5.4"),
        ModelInfo("rnn", adding_rnn, "RNN 1997", 1990,  # the 1997 era's baseline; Elman's paper is of 1990
                  "Elman 1990, Finding Structure in Time: the tanh RNN baseline of Hochreiter & Schmidhuber 1997"),
        ModelInfo("seq2seq", Seq2Seq, "RNN 1997", 2014,
                  "Sutskever, Vinyals & Le 2014, Sequence to Sequence Learning (arXiv:1409.3215): 384M params"),
        ModelInfo("rnnsearch", RNNsearch, "RNN+attention 2015", 2015,
                  "Bahdanau, Cho & Bengio 2015, Jointly Learning to Align and Translate (arXiv:1409.0473)"),
        ModelInfo("transformer", Transformer, "Transformer 2017", 2017,
                  "Vaswani et al. 2017, Attention Is All You Need (arXiv:1706.03762), base sizes (65M there: one "
                  "vocabulary shared by both languages)"),
    ]
}


def _info(name: str) -> ModelInfo:
    if name not in MODELS:
        raise KeyError(f"unknown model '{name}' (known: {', '.join(sorted(MODELS))})")
    return MODELS[name]


def check_model_args(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """Check `args` against the builder's keyword arguments and their annotations; return them type-converted.

    Raises KeyError for an unknown model and TypeError (with a one-line message naming `model.<key>`) for an
    unknown argument or a wrong type.
    """
    builder = _info(name).builder
    target = builder.__init__ if inspect.isclass(builder) else builder
    params = inspect.signature(target).parameters
    hints = typing.get_type_hints(target)
    known = [p for p in params if p != "self"]
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
    model is then built with the entry's arguments (any given must agree) and returned in eval mode.
    """
    if weights is None:
        return _info(name).builder(**kwargs)
    _info(name)  # an unknown model is named as such, not as missing weights
    return _pretrained(weights_for(name, weights), kwargs)


def load_weights(name: str) -> nn.Module:
    """The model of registry entry `name` (e.g. "resnet20_cifar10") with its trained weights, in eval mode."""
    return _pretrained(get_weights(name), {})


def _pretrained(entry: WeightsEntry, kwargs: dict[str, Any]) -> nn.Module:
    args = dict(entry.model_args)
    clash = [k for k, v in kwargs.items() if k in args and args[k] != v or k not in args]
    if clash:
        k = clash[0]
        raise WeightsError(f"weights '{entry.name}' were trained with {k}={args.get(k, '(default)')!r}, not "
                           f"{kwargs[k]!r}; build without weights to change it")
    state, meta = read_weights(entry)
    model = _info(entry.model).builder(**args)
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise WeightsError(f"{entry.path}: does not fit model '{entry.model}' ({mismatch_detail(e)[:160]}); "
                           f"nothing loaded") from None
    model.weights, model.meta = entry, meta
    return model.eval()


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def list_models(pattern: str = "*", *, pretrained: bool = False) -> list[dict[str, Any]]:
    """One row per model whose name matches `pattern` ("resnet*"): name, era, year, paper, parameter count with
    default arguments, and the names of its registry entries whose weights are shipped (`pretrained=True`: only
    the models that have some)."""
    shipped: dict[str, list[str]] = {}
    for e in registry().values():
        if e.shipped:
            shipped.setdefault(e.model, []).append(e.name)
    # Built on the meta device: shapes without memory or initialisation, as the paper-size translators are large
    # (Sutskever et al.'s 384M parameters would take 1.5 GB and seconds to initialise just to be counted).
    with torch.device("meta"):
        return [
            {"name": i.name, "era": i.era, "year": i.year, "paper": i.paper,
             "params": count_parameters(i.builder()), "weights": shipped.get(i.name, [])}
            for i in MODELS.values()
            if fnmatch.fnmatch(i.name, pattern) and (i.name in shipped or not pretrained)
        ]
