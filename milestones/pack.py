"""Several CIFAR ResNet runs trained at once as one packed net (models/packed.py), to fill a GPU (issue #18).

    fit_packed(cfgs)    N configs that differ only in seed, run name and plain/residual -> N ordinary run folders

A ResNet-20 step at batch 128 leaves a large GPU idle (kernel launches and Python bound it, not arithmetic), and
He et al.'s Table 6 is a sweep of small nets: plain and residual, several depths, several seeds. Packing N nets of
one depth into one net of grouped convolutions runs N steps for the launches of one.

A pack trains in the trainer's own loop (train.train_runs, the loop `fit` runs for one run), which drives the N
runs and steps them as one packed net (steppers.packed_stepper); this module says which configs may pack. Each
model trains exactly as `fit` would train it alone, up to floating-point summation order:
- its own initialisation and data: `seed_everything(seed_i)` before building its loaders and its model, as `fit`
  does; every epoch's order and augmentation come from its loader's generators, seeded by (seed_i, epoch);
- its own gradient: the loss is the sum of the N models' own mean losses, and the models share no parameter;
- its own update: SGD (momentum, weight decay) and AdamW act elementwise, and every model has the same lr schedule.
tests/test_pack.py trains nets packed and alone and compares the weights.

After every epoch the packed weights, BN statistics and optimizer state are split back into N lone models and
optimizers (PackedResNet.split), which the loop evaluates (diagnostics and top-5 included), saves, logs (and
sends to TensorBoard) as it does a lone run: each run folder holds the checkpoint, metrics.jsonl and results.json
a lone run would (plus `packed_with` in results.json), so `milestones compare` ranks them with every other run and
`milestones train CONFIG --resume` continues any of them alone. A net whose loss becomes NaN or infinite stops as
a lone run would (its last good checkpoint kept, no results.json) while the others go on, re-packed without it
from the next epoch; the loop then raises DivergenceError naming it, after the others have finished. (Until the
epoch ends it stays in the pack: grouped convolutions, per-channel batch norm and per-model classifiers keep its
NaNs out of the other nets.)
Not packable (one line, ConfigError): other models or depths, any other config difference,
trainer.grad_clip (a global gradient norm would couple the models), accumulate, fp16's loss scaler, sync_bn,
mixed batches (mixup / CutMix), torchrun.
"""

from __future__ import annotations

import dataclasses
import os
from contextlib import ExitStack
from typing import Any, Optional

from .checkpoint import flat_keys, open_run_folder
from .config import Config, ModelConfig
from .errors import ConfigError
from .models import MODELS
from .runtime import set_up
from .train import train_runs

# the CIFAR nets of He et al. Sec. 4.2 and Fig. 6 that the model table names with their depth ({name: depth}), and
# the arguments they may share (e.g. for 1-channel MNIST)
PACKABLE = {name: info.depth for name, info in MODELS.items() if info.family == "cifar_resnet" and info.depth}
SHARED_ARGS = {"in_channels", "num_classes"}


def check_packable(cfgs: list[Config]) -> None:
    """Raise ConfigError, in one line, unless `cfgs` can train as one pack."""
    if not cfgs:
        raise ConfigError("nothing to pack: give at least one config")
    depths = set()
    for cfg in cfgs:
        if cfg.task != "classification" or cfg.model.name not in PACKABLE or set(cfg.model.args) - SHARED_ARGS:
            raise ConfigError(f"{cfg.name}: only the CIFAR ResNets and plain nets pack (resnet20 .. plain110; model "
                              f"arguments {', '.join(sorted(SHARED_ARGS))} only), got model '{cfg.model.name}' "
                              f"with {sorted(cfg.model.args)}")
        depths.add(PACKABLE[cfg.model.name])
    if len(depths) > 1:
        raise ConfigError(f"packed nets share one depth, got {sorted(depths)}: pack each depth on its own")
    dirs = [cfg.run_dir for cfg in cfgs]
    if len(set(dirs)) < len(dirs):
        raise ConfigError(f"two packed runs would write into one folder ({next(d for d in dirs if dirs.count(d) > 1)});"
                          f" give each its own name or seed")
    first = shared_config(cfgs[0])
    for cfg in cfgs[1:]:
        other = shared_config(cfg)
        for key in sorted(set(first) | set(other)):
            if first.get(key) != other.get(key):
                raise ConfigError(f"{cfg.name}: {key} is {other.get(key)!r}, {cfgs[0].name}'s is {first.get(key)!r}: "
                                  f"packed runs differ only in seed, name, output_dir and plain/residual model")
    t = cfgs[0].trainer
    if t.grad_clip is not None:
        raise ConfigError("trainer.grad_clip clips the global gradient norm, which would couple packed models: "
                          "unset it, or train alone")
    if t.accumulate != 1 or t.precision == "fp16" or t.sync_bn or cfgs[0].data.mixup or cfgs[0].data.cutmix:
        raise ConfigError("trainer.accumulate, fp16, sync_bn and data.mixup / cutmix do not pack: train alone")
    if t.freeze:  # the packed net's parameters are N nets' at once: one head cannot train alone among them
        raise ConfigError("trainer.freeze does not pack: train alone")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ConfigError("packed runs train in one process: start `milestones pack` without torchrun")


def shared_config(cfg: Config) -> dict:
    """What every run of a pack must share: the config but for seed, name, output folder and model name."""
    model = ModelConfig(args=cfg.model.args)
    return flat_keys(dataclasses.replace(cfg, seed=0, name="", output_dir="", model=model).to_dict())


def fit_packed(cfgs: list[Config], *, resume: bool = False, overwrite: bool = False,
               command: Optional[str] = None) -> list[dict[str, Any]]:
    """Train `cfgs` as one packed net; return each run's results (as `fit` returns one run's)."""
    check_packable(cfgs)
    t = cfgs[0].trainer
    device, ddp, precision = set_up(t.device, threads=t.threads, cudnn_benchmark=t.cudnn_benchmark,
                                    precision=t.precision, tensorboard=t.tensorboard)
    with ExitStack() as stack:
        paths = [stack.enter_context(open_run_folder(cfg.run_dir, resume=resume, overwrite=overwrite))
                 for cfg in cfgs]
        return train_runs(cfgs, paths, device, precision, ddp, packed=True, resume=resume, command=command)
