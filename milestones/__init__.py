"""milestones: the history of deep learning as small, faithful PyTorch models and one shared trainer.

    from milestones import create_model, list_models, load_checkpoint, load_config
    model = create_model("mlp", in_features=3072)
"""

from .checkpoint import load_checkpoint, read_checkpoint
from .config import Config, load_config
from .models import count_parameters, create_model, list_models
from .train import evaluate, fit, train_one_epoch
from .version import __version__

__all__ = [
    "Config", "count_parameters", "create_model", "evaluate", "fit", "list_models", "load_checkpoint",
    "load_config", "read_checkpoint", "train_one_epoch", "__version__",
]
