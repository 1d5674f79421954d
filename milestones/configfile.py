"""Config files: YAML in, a checked Config out (config.py builds and checks it), and the shipped configs.

    load_config("configs/resnet20_cifar10_cpu.yaml", ["trainer.epochs=3"])   a path, or a shipped config's name
    list_configs()                                                          the shipped configs, first comment line
    apply_override(raw, "optim.lr=0.05")                                    one --set on the raw YAML dict
    with_overrides(cfg, trainer={"epochs": 3})                              a loaded Config with fields replaced

YAML is read with PyYAML's safe loader, with two changes: aliases are refused before they expand (they can nest
exponentially), and `1e-3` is a float as in YAML 1.2. A file over 1 MiB is not a config.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import yaml

from .config import Config, config_from_dict
from .errors import ConfigError
from .typecheck import did_you_mean, shown

MAX_CONFIG_BYTES = 1 << 20


class _AliasRefused(yaml.YAMLError):
    def __init__(self, name: str, line: int) -> None:
        super().__init__(f"*{name} at line {line}")
        self.name, self.line = name, line


class _Loader(yaml.SafeLoader):
    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):  # refused before it is expanded: aliases can nest exponentially
            event = self.peek_event()
            raise _AliasRefused(str(event.anchor), event.start_mark.line + 1)
        return super().compose_node(parent, index)


# PyYAML's float pattern needs a dot ("1.0e-3"); YAML 1.2 and every user also mean 1e-3 as a float.
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                 |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                 |\.[0-9_]+(?:[eE][-+][0-9]+)?
                 |[-+]?\.(?:inf|Inf|INF)
                 |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."),
)


def parse_value(text: str) -> Any:
    """Parse one `--set` value as YAML ('5' -> 5, '1e-3' -> 0.001, 'true' -> True, '[1, 2]' -> [1, 2])."""
    try:
        return yaml.load(text, Loader=_Loader)
    except (yaml.YAMLError, RecursionError):
        return text


def apply_override(raw: dict, item: str, where: str = "--set") -> None:
    """Apply one `key.sub=value` override to the raw YAML dict in place."""
    if "=" not in item:
        raise ConfigError(f"{where}: expected key=value, got {shown(item)}")
    key, text = item.split("=", 1)
    parts = key.strip().split(".")
    if not all(parts):
        raise ConfigError(f"{where}: bad key {shown(key)} in {shown(item)}")
    node = raw
    for p in parts[:-1]:
        child = node.get(p)
        if child is None:
            child = node[p] = {}
        elif not isinstance(child, dict):
            raise ConfigError(f"{where}: '{key}' goes inside '{p}', which is not a mapping")
        node = child
    node[parts[-1]] = parse_value(text)


CONFIG_DIR = Path(__file__).parent / "configs"  # shipped in the package (and linked as configs/ in a checkout)


def list_configs() -> list[tuple[str, str]]:
    """(name, the first line of its leading comment) of every config shipped with the package."""
    out = []
    for p in sorted(CONFIG_DIR.glob("*.yaml")):
        first = next((l for l in p.read_text(encoding="utf-8").splitlines() if l.strip()), "")
        out.append((p.stem, first.lstrip("# ").strip() if first.startswith("#") else ""))
    return out


def find_config(name_or_path: str | Path) -> Path:
    """A config by path (a user's own YAML) or by the name of a shipped one: `mlp_mnist` or `mlp_mnist.yaml`."""
    path = Path(name_or_path)
    if path.is_file() or path.parent != Path(".") or path.is_dir():
        return path  # a path: load_config reports it if it is missing
    shipped = CONFIG_DIR / (path.name if path.suffix in (".yaml", ".yml") else f"{path.name}.yaml")
    if shipped.is_file():
        return shipped
    names = [n for n, _ in list_configs()]
    hint = did_you_mean(path.stem, names)
    raise ConfigError(f"{name_or_path}: config file not found, nor a shipped config of that name ({hint}`milestones "
                      f"configs` lists them)")


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Load a YAML config (a path, or a shipped config's name), apply `key=value` overrides, check every key,
    type and value."""
    path = find_config(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    size = path.stat().st_size
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: {size:,} bytes is not a config (the limit is {MAX_CONFIG_BYTES:,})")
    try:
        raw = yaml.load(path.read_text(), Loader=_Loader)
    except _AliasRefused as e:
        raise ConfigError(f"{path}: YAML aliases are not allowed in configs (*{shown(e.name)[1:-1]} at line "
                          f"{e.line}); write the value out") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to be a config") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{path}: malformed YAML{at}: {problem}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections, got {type(raw).__name__}")
    for item in overrides:
        apply_override(raw, item)
    return config_from_dict(raw, where=str(path), name=path.stem)


def save_config(cfg: Config, path: str | Path) -> None:
    """Write the resolved config as YAML (it loads back with load_config)."""
    Path(path).write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))


def with_overrides(cfg: Config, **sections: dict[str, Any]) -> Config:
    """A copy of `cfg` with fields replaced, e.g. with_overrides(cfg, trainer={"epochs": 3}, data={...})."""
    cfg = dataclasses.replace(cfg)
    for section, values in sections.items():
        if section in ("name", "output_dir", "seed"):
            cfg = dataclasses.replace(cfg, **{section: values})
        else:
            setattr(cfg, section, dataclasses.replace(getattr(cfg, section), **values))
    return cfg
