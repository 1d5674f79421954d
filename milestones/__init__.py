"""milestones: the history of deep learning as small, faithful PyTorch models and one shared trainer.

    from milestones import create_model, list_models, load_checkpoint, load_config
    model = create_model("mlp", in_features=3072)
"""

__version__ = "0.1.0"

from .config import Config, load_config  # noqa: E402
from .models import count_parameters, create_model, list_models  # noqa: E402
from .train import evaluate, fit, load_checkpoint, read_checkpoint, train_one_epoch  # noqa: E402

__all__ = [
    "Config", "count_parameters", "create_model", "evaluate", "fit", "list_models", "load_checkpoint",
    "load_config", "read_checkpoint", "train_one_epoch", "__version__",
]
