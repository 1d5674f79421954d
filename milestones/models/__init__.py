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
    """A model family's facts as data: whoever needs "a CIFAR ResNet? how deep? plain or residual?" asks these
    fields (packing, the claims, the plots, the planner, checkpoint migrations), never the model's name."""

    name: str
    builder: Callable[..., nn.Module]
    era: str
    year: int
    paper: str
    family: str  # mlp, lenet, alexnet, cifar_resnet, imagenet_resnet, vit, adding_rnn, seq2seq, rnnsearch, transformer
    depth: Optional[int] = None  # weighted layers, where the name fixes it (else the `depth` argument, if any)
    residual: Optional[bool] = None  # ResNets: residual or plain, where the name fixes it (else the argument)
    input: str = "image"  # what it reads: "image", "sequence" (numbers in time), "tokens" (a sentence)
    data: str = ""  # the data set its paper's claim is shown on here (milestones/data/datasets.py)

    def depth_with(self, args: dict[str, Any]) -> Optional[int]:
        """The depth of the model built with `args` (the generic `resnet` takes it as an argument)."""
        return self.depth if self.depth is not None else args.get("depth")

    def residual_with(self, args: dict[str, Any]) -> Optional[bool]:
        """Residual (True) or plain (False) when built with `args`; None for models without the choice."""
        if self.residual is not None or not self.family.endswith("resnet"):
            return self.residual
        return bool(args.get("residual", True))


HE = "He, Zhang, Ren & Sun 2015, Deep Residual Learning (arXiv:1512.03385)"
VIT = "Dosovitskiy et al. 2020, An Image is Worth 16x16 Words (arXiv:2010.11929)"


def _cifar_nets() -> list[ModelInfo]:
    """He et al.'s CIFAR-10 nets (Sec. 4.2): ResNet-6n+2 of Table 6 and their plain twins of Fig. 6."""
    residual = {20: resnet20, 32: resnet32, 44: resnet44, 56: resnet56, 110: resnet110}
    plain = {20: plain20, 32: plain32, 44: plain44, 56: plain56, 110: plain110}
    return [
        *(ModelInfo(f"resnet{d}", b, "ResNet 2015", 2015, f"{HE}, Table 6: ResNet-{d}", "cifar_resnet", d, True,
                    data="cifar10") for d, b in residual.items()),
        *(ModelInfo(f"plain{d}", b, "ResNet 2015", 2015,
                    f"{HE}, {'plain twin of ResNet-110' if d == 110 else f'Fig. 6: plain-{d}'}", "cifar_resnet", d,
                    False, data="cifar10") for d, b in plain.items()),
    ]


MODELS: dict[str, ModelInfo] = {
    info.name: info
    for info in [
        ModelInfo("mlp", MLP, "MLP", 1986,
                  "Rumelhart, Hinton & Williams 1986; dropout: Srivastava et al. 2014 (arXiv:1207.0580)",
                  "mlp", data="mnist"),
        ModelInfo("lenet5", LeNet5, "CNN 1998", 1998,
                  "LeCun, Bottou, Bengio & Haffner 1998, Gradient-based learning applied to document recognition",
                  "lenet", 5, data="mnist"),
        ModelInfo("alexnet", AlexNet, "CNN 2012", 2012,
                  "Krizhevsky, Sutskever & Hinton 2012, ImageNet Classification with Deep CNNs (NeurIPS)",
                  "alexnet", 8, data="cifar10"),
        ModelInfo("alexnet224", AlexNet224, "CNN 2012", 2012,
                  "Krizhevsky, Sutskever & Hinton 2012, ImageNet Classification with Deep CNNs (NeurIPS): the "
                  "paper's 224x224 model, two towers as grouped convolutions, 61M params", "alexnet", 8,
                  data="imagenet"),
        *_cifar_nets(),
        ModelInfo("resnet", ResNet, "ResNet 2015", 2015, f"{HE}, Sec. 4.2: any depth 6n+2", "cifar_resnet",
                  data="cifar10"),
        *(ModelInfo(f"resnet{d}", b, "ResNet 2015", 2015, f"{HE}, Table 1: ImageNet ResNet-{d}", "imagenet_resnet",
                    d, True, data="imagenet") for d, b in ((18, resnet18), (34, resnet34), (50, resnet50))),
        *(ModelInfo(f"plain{d}", b, "ResNet 2015", 2015, f"{HE}, Table 2 / Fig. 4: plain-{d}", "imagenet_resnet", d,
                    False, data="imagenet") for d, b in ((18, plain18), (34, plain34))),
        ModelInfo("vit_tiny", vit_tiny, "ViT 2020", 2020, f"{VIT}; CIFAR size, 2.3M params", "vit", 6,
                  data="cifar10"),
        ModelInfo("vit_small", vit_small, "ViT 2020", 2020, f"{VIT}; CIFAR size, 6.0M params", "vit", 9,
                  data="cifar10"),
        ModelInfo("vit_b16", vit_b16, "ViT 2020", 2020, f"{VIT}, Table 1: ViT-B/16 at 224x224, 86.6M params",
                  "vit", 12, data="imagenet"),
        ModelInfo("vit", ViT, "ViT 2020", 2020, f"{VIT}; any size (defaults: ViT-B/16)", "vit", data="imagenet"),
        ModelInfo("lstm", adding_lstm, "RNN 1997", 1997,
                  "Hochreiter & Schmidhuber 1997, Long Short-Term Memory (Neural Computation), with the forget "
                  "gate of Gers et al. 2000; adding problem, Sec. 5.4", "adding_rnn", input="sequence", data="adding"),
        ModelInfo("rnn", adding_rnn, "RNN 1997", 1990,  # the 1997 era's baseline; Elman's paper is of 1990
                  "Elman 1990, Finding Structure in Time: the tanh RNN baseline of Hochreiter & Schmidhuber 1997",
                  "adding_rnn", input="sequence", data="adding"),
        ModelInfo("seq2seq", Seq2Seq, "RNN 1997", 2014,
                  "Sutskever, Vinyals & Le 2014, Sequence to Sequence Learning (arXiv:1409.3215): 384M params",
                  "seq2seq", input="tokens", data="small_parallel_enja"),
        ModelInfo("rnnsearch", RNNsearch, "RNN+attention 2015", 2015,
                  "Bahdanau, Cho & Bengio 2015, Jointly Learning to Align and Translate (arXiv:1409.0473)",
                  "rnnsearch", input="tokens", data="small_parallel_enja"),
        ModelInfo("transformer", Transformer, "Transformer 2017", 2017,
                  "Vaswani et al. 2017, Attention Is All You Need (arXiv:1706.03762), base sizes (65M there: one "
                  "vocabulary shared by both languages)", "transformer", input="tokens", data="small_parallel_enja"),
    ]
}


def model_info(name: str) -> Optional[ModelInfo]:
    """The entry of `name`, or None for a name the table does not know (an old run's model)."""
    return MODELS.get(name)


def _info(name: str) -> ModelInfo:
    if name not in MODELS:
        raise KeyError(f"unknown model '{name}' (known: {', '.join(sorted(MODELS))})")
    return MODELS[name]


def builder_arguments(name: str) -> list[str]:
    """The keyword arguments the builder of `name` takes (KeyError for an unknown model)."""
    builder = _info(name).builder
    target = builder.__init__ if inspect.isclass(builder) else builder
    return [p for p in inspect.signature(target).parameters if p != "self"]


def check_model_args(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """Check `args` against the builder's keyword arguments and their annotations; return them type-converted.

    Raises KeyError for an unknown model and TypeError (with a one-line message naming `model.<key>`) for an
    unknown argument or a wrong type.
    """
    builder = _info(name).builder
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
