"""The weights registry, read without torch: `milestones/weights/zoo.yaml`'s entries as `WeightsEntry` records.

Listing the zoo (`milestones zoo`, `milestones list`) needs only this table, so it lives apart from the reading of
the weight files (milestones/pretrained.py, which needs torch): a command that lists things answers at once
(tests/test_cli.py checks that it imports no torch). pretrained.py says what an entry holds and how its file is
checked; `MILESTONES_WEIGHTS=DIR` points the zoo at another folder (a copy of `weights/` with its own zoo.yaml).
"""

from __future__ import annotations

import fnmatch
import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

from .errors import WeightsError
from .typecheck import did_you_mean

REGISTRY_FILE = "zoo.yaml"
# PyYAML's safe loader in C where PyYAML was built with libyaml: the same document, read in ~10 ms instead of ~90
# (zoo.yaml, 37 kB), which was most of what `milestones zoo` and `milestones list` take to start.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
REQUIRED = ("model", "model_args", "data", "metric", "value", "recipe")


def weights_dir() -> Path:
    """The zoo's folder: $MILESTONES_WEIGHTS, else the `weights/` folder inside the installed package."""
    return Path(os.environ.get("MILESTONES_WEIGHTS") or Path(__file__).parent / "weights").expanduser().resolve()


@dataclass(frozen=True)
class WeightsEntry:
    """One registry entry. `value` is in the metric's display unit (accuracy in %, BLEU in points, MSE as is)."""

    name: str
    model: str
    model_args: dict
    data: str
    metric: str
    value: float
    recipe: dict  # command, config, config_hash, epochs, train_minutes, hardware, torch (or source, for imports)
    file: Optional[str] = None  # None: not shipped (recipe["command"] trains it)
    sha256: Optional[str] = None
    bytes: Optional[int] = None
    dtype: str = "float32"
    default: bool = False  # the entry `create_model(model, weights="DEFAULT")` picks
    tolerance: Optional[float] = None  # `milestones zoo build`: how far a retrained model may land from `value`
    extra: dict = field(default_factory=dict)  # views, single_view, fp32_value, input, provenance, why, license...

    @property
    def tag(self) -> str:
        """What follows the model's name: `resnet20_cifar10` -> `cifar10`."""
        return self.name[len(self.model) + 1:] if self.name.startswith(self.model + "_") else self.name

    @property
    def path(self) -> Optional[Path]:
        return weights_dir() / self.file if self.file else None

    @property
    def shipped(self) -> bool:
        return self.path is not None and self.path.is_file()

    @property
    def command(self) -> str:
        return str(self.recipe.get("command") or "see the registry entry")


def _entry(name: str, raw: Any, where: str) -> WeightsEntry:
    if not isinstance(raw, dict):
        raise WeightsError(f"{where}: entry '{name}' must be a mapping, got {type(raw).__name__}")
    missing = [k for k in REQUIRED if k not in raw]
    if missing:
        raise WeightsError(f"{where}: entry '{name}' lacks '{missing[0]}'")
    known = set(WeightsEntry.__dataclass_fields__) - {"name", "extra"}
    fields = {k: v for k, v in raw.items() if k in known}
    try:
        return WeightsEntry(name=name, **fields, extra={k: v for k, v in raw.items() if k not in known})
    except TypeError as e:
        raise WeightsError(f"{where}: entry '{name}': {e}") from None


@functools.lru_cache(maxsize=4)
def _registry(folder: Path) -> dict[str, WeightsEntry]:
    where = folder / REGISTRY_FILE
    try:
        raw = yaml.load(where.read_text(encoding="utf-8"), Loader=SAFE_LOADER) or {}
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise WeightsError(f"{where}: cannot read the weights registry ({str(e).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise WeightsError(f"{where}: the weights registry must be a mapping of entry names")
    return {name: _entry(name, value, str(where)) for name, value in raw.items()}


def forget_registry() -> None:
    """Read the registry again at its next use (after `milestones zoo` has written it)."""
    _registry.cache_clear()


def registry() -> dict[str, WeightsEntry]:
    """Every entry of the current zoo folder, by name (read once per folder)."""
    return _registry(weights_dir())


def _unknown(name: str, known: list[str], what: str) -> WeightsError:
    hint = did_you_mean(name, known, cutoff=0.5)
    return WeightsError(f"no {what} '{name}' ({hint}known: {', '.join(sorted(known)) or 'none'})")


def get_weights(name: str) -> WeightsEntry:
    """The registry entry called `name`, or a one-line error listing those that exist."""
    entries = registry()
    if name not in entries:
        raise _unknown(name, list(entries), "weights")
    return entries[name]


def weights_for(model: str, weights: str) -> WeightsEntry:
    """The entry `create_model(model, weights=...)` means: "DEFAULT", a tag ("cifar10") or a full entry name."""
    own = [e for e in registry().values() if e.model == model]
    if weights == "DEFAULT" and own:
        return next((e for e in own if e.default), own[0])
    for e in own:
        if weights in (e.name, e.tag):
            return e
    if not own:
        raise WeightsError(f"model '{model}' has no trained weights (models with weights: "
                           f"{', '.join(sorted({e.model for e in registry().values()}))})")
    tags = [e.tag for e in own]
    hint = did_you_mean(weights, tags, cutoff=0.5)
    raise WeightsError(f"model '{model}' has no weights '{weights}' ({hint}its weights: {', '.join(tags)}, DEFAULT)")


def list_weights(pattern: str = "*", *, shipped_only: bool = False) -> list[WeightsEntry]:
    """Entries whose name matches the shell-style `pattern` (e.g. "resnet*"), in the registry's order."""
    return [e for e in registry().values()
            if fnmatch.fnmatch(e.name, pattern) and (e.shipped or not shipped_only)]
