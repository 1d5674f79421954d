"""The tasks, one module each, and the one table that names them (`cfg.task` picks the entry).

    classification   images -> class (classification.py)
    regression       the adding problem's sequences -> a number (regression.py)
    seq2seq          a sentence -> its translation (seq2seq.py)

`build_model` is the one way a model is built for a config and its data: the config's model arguments completed
by what only the data knows (a translator's vocabulary sizes), on the device, channels-last where asked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from ..data.datasets import DATASETS
from ..errors import ConfigError, WeightsError
from ..models import builder_arguments, check_model_args, count_parameters, create_model
from ..pretrained import get_weights
from ..typecheck import shown
from .base import Headline, Loaders, StepFn, StepOut, Task
from .classification import CLASSIFICATION
from .regression import REGRESSION
from .seq2seq import SEQ2SEQ

if TYPE_CHECKING:  # annotations only (see base.py)
    from ..config import Config

TASKS: dict[str, Task] = {t.name: t for t in (CLASSIFICATION, REGRESSION, SEQ2SEQ)}

__all__ = ["TASKS", "Headline", "Loaders", "StepFn", "StepOut", "Task", "build_model", "model_arguments",
           "task_of_data"]


def task_of_data(data_name: str) -> str:
    """The task that trains on `data_name` (milestones/data/datasets.py)."""
    return DATASETS[data_name].task


def model_arguments(cfg: Config, meta: dict) -> dict:
    """The model's keyword arguments: the config's, completed by what only the data knows.

    A translator's vocabulary sizes are known once the vocabularies are built from the training text, and an image
    model's classes, channels and size once the images are read, so no config need state them: the task's
    `model_args(meta)` gives them, each to the builders that take it. A value the config does give wins, and the
    task's check_model reports it if it does not fit the data. A model that takes no such argument (a wrong
    model for the task) is built as configured, and check_model says what is wrong.
    """
    try:
        takes = builder_arguments(cfg.model.name)
        from_data = check_model_args(cfg.model.name, {k: v for k, v in TASKS[cfg.task].model_args(meta).items()
                                                      if k in takes})
    except (KeyError, TypeError):
        from_data = {}
    # the architecture of the weights it starts from (model.weights), but for the classes the data has
    trained = dict(get_weights(cfg.model.weights).model_args) if cfg.model.weights else {}
    return {**trained, **from_data, **cfg.model.args}


MAX_PARAMETERS = 2 * 10 ** 9  # 8 GB of fp32 weights: beyond every era here, and a typo's size (hidden: [1e11])


def build_model(cfg: Config, meta: dict, device: torch.device, *,
                from_weights: bool = False) -> tuple[nn.Module, dict]:
    """The model `cfg` describes for data with this meta, on `device` (channels-last with trainer.channels_last),
    and the keyword arguments it was built with (what a checkpoint stores to rebuild it). `from_weights`: with the
    weights of its `model.weights` entry (a training's start; a checkpoint's own weights replace them anyway).

    Arguments the builder refuses, or sizes past MAX_PARAMETERS (counted on the meta device first, without
    allocating), are a one-line ConfigError instead of a traceback or an allocation that takes the machine down.
    """
    args = model_arguments(cfg, meta)
    name = cfg.model.name
    try:
        with torch.device("meta"):
            params = count_parameters(create_model(name, **args))
    except (RuntimeError, ValueError, TypeError, OverflowError) as e:
        raise ConfigError(f"model '{name}' cannot be built with {shown(args)}: {str(e).splitlines()[0]}") from None
    if params > MAX_PARAMETERS:
        raise ConfigError(f"model '{name}' would have {params:,} parameters (over {MAX_PARAMETERS:,}); check the "
                          f"sizes in {shown(cfg.model.args)}")
    weights = cfg.model.weights if from_weights else None
    try:
        model = create_model(name, weights=weights, **args).to(device)
    except WeightsError as e:  # the weights cannot take this data: the config's mistake
        raise ConfigError(f"model.weights: {e}") from None
    if cfg.trainer.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model, args
