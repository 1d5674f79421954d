"""The model zoo: one module per era and one explicit table of builders.

`create_model("mlp", in_features=3072)` calls the builder with keyword arguments: the object it returns is
exactly what the trainer trains. `list_models()` gives each model's era, year, paper and parameter count.
"""

from __future__ import annotations

import inspect
import typing
from dataclasses import dataclass
from typing import Any, Callable

from torch import nn

from .mlp import MLP


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
    from ..config import check_type  # the same checker the config sections use

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


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """Build a model by name with the builder's keyword arguments (defaults: the paper's values)."""
    return _info(name).builder(**kwargs)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def list_models() -> list[dict[str, Any]]:
    """One row per model: name, era, year, paper, parameter count with default arguments."""
    return [
        {"name": i.name, "era": i.era, "year": i.year, "paper": i.paper,
         "params": count_parameters(i.builder())}
        for i in MODELS.values()
    ]
