"""torch.hub entry points, one per model: `torch.hub.load(REPO, "resnet20", source="local", weights="cifar10")`.

REPO is a local clone of milestones (`source="local"`; this workplace is offline, so no GitHub download is
assumed). Each entry point is `milestones.create_model(name, weights=None, **kwargs)`: without `weights` a fresh
model with the paper's defaults; with "DEFAULT", a tag ("cifar10") or an entry name, the shipped trained weights
(`milestones zoo` lists them), in eval mode, their meta on `model.meta`.
"""

import functools

from milestones.models import MODELS, create_model

dependencies = ["torch", "torchvision", "numpy", "tqdm", "yaml", "sacrebleu", "safetensors"]


def _entry_point(name: str):
    @functools.wraps(create_model)
    def load(weights=None, **kwargs):
        return create_model(name, weights=weights, **kwargs)

    load.__name__ = load.__qualname__ = name
    load.__doc__ = f"{MODELS[name].paper}.\n\n`weights`: None (random), 'DEFAULT', a tag or an entry name."
    return load


globals().update({name: _entry_point(name) for name in MODELS})
