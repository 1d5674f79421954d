"""Regression: the adding problem (Hochreiter & Schmidhuber 1997, Sec. 5.4; milestones/data/synthetic.py).

Loss: mean squared error of the number read at each sequence's end. Correct: absolute error below 0.04, the
paper's "processed correctly".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from ..data.datasets import DATASETS
from ..data.synthetic import ADDING_CRITERION, AddingLoader
from ..distributed import Dist
from ..errors import ConfigError
from ..runtime import evaluating
from .base import Headline, Loaders, StepOut, Task, probe_error

if TYPE_CHECKING:  # annotations only (see base.py)
    from ..config import Config


def build_data(cfg: Config, device: torch.device, ddp: Dist = Dist()) -> Loaders:
    """Fresh training sequences every epoch, seeded by (seed, epoch); a fixed test set from its own seed."""
    d, t, adding = cfg.data, cfg.trainer, DATASETS["adding"]
    common = dict(seq_len=d.seq_len, device=device, rank=ddp.rank, world_size=ddp.world_size)
    train = AddingLoader(num_sequences=d.train_size or adding.train_size, batch_size=t.batch_size, seed=cfg.seed,
                         drop_last=ddp.enabled, **common)
    test = AddingLoader(num_sequences=d.test_size or adding.test_size, batch_size=t.eval_batch_size,
                        seed=999_983, fixed=True, **common)  # the same test sequences whatever the run's seed
    return Loaders(train, test, None, {"task": "regression", "data": "adding", "seq_len": d.seq_len,
                                       "criterion": ADDING_CRITERION})


def regression_step(model: nn.Module, batch: tuple, label_smoothing: float = 0.0) -> StepOut:
    x, lengths, y = batch
    pred = model(x, lengths)  # (B,)
    loss = F.mse_loss(pred.float(), y)
    correct = ((pred.float() - y).abs() < ADDING_CRITERION).sum()  # the paper's "processed correctly"
    return StepOut(loss, correct, len(y))


def check_regressor(model: nn.Module, loaders: Loaders, cfg: Config) -> None:
    x, lengths, _ = next(iter(loaders.eval))
    try:
        with evaluating(model):
            out = model(x[:2], lengths[:2])
    except (RuntimeError, ValueError, TypeError) as e:
        raise ConfigError(probe_error(cfg.model.name, f"read {cfg.data.name} sequences of shape "
                                      f"{tuple(x.shape[1:])}", e)) from None
    if out.shape != (2,):
        raise ConfigError(f"model '{cfg.model.name}' gives outputs of shape {tuple(out.shape)} for 2 sequences; "
                          f"the adding problem needs one number per sequence")


def summary(results: dict) -> str:
    return f"{100 * results['test_acc']:.1f}% of test sequences solved, MSE {results['test_loss']:.4f}"


def describe_sequences(cfg: Config, meta: dict) -> dict:
    return {"sequences": f"adding problem, T={cfg.data.seq_len}: (value, marker) pairs"}


REGRESSION = Task(
    name="regression", build_data=build_data, step=regression_step,
    check_model=check_regressor, describe_input=describe_sequences,
    headline=Headline(key="test_acc", label="sequences solved (%)", scale=100.0, unit="%", paper_metric="solved",
                      rate_unit="sequences/s", summary=summary, check_tolerance=0.05, build_tolerance=0.6),
)
