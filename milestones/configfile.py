"""Config files: YAML in, a checked Config out (config.py builds and checks it), and the shipped configs.

    load_config("configs/resnet20_cifar10_cpu.yaml", ["trainer.epochs=3"])   a path, or a shipped config's name
    list_configs()                                                          the shipped configs, first comment line
    apply_override(raw, "optim.lr=0.05")                                    one --set on the raw YAML dict
    with_overrides(cfg, trainer={"epochs": 3})                              a loaded Config with fields replaced

YAML is read with PyYAML's safe loader, made strict: aliases are refused before they expand (they can nest
exponentially); a key given twice in a mapping is refused with both lines (YAML would keep the second silently);
numbers follow YAML 1.2 (`1e-3` is a float), and the forms YAML 1.1 and 1.2 read differently (`012`: 10 or 12,
`1:30`: 90 or a string, `0x10`, `0o17`, `0b101`, `1_000`) are refused, in files and `--set` values alike: quoted,
they are strings. A file over 1 MiB is not a config. save_config writes what load_config reads back.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import yaml

from .catalog import CONFIG_DIR, list_configs  # the shipped configs, listed without torch
from .config import Config, config_from_dict
from .errors import ConfigError
from .typecheck import did_you_mean, shown

MAX_CONFIG_BYTES = 1 << 20


class _AliasRefused(yaml.YAMLError):
    def __init__(self, name: str, line: int) -> None:
        super().__init__(f"*{name} at line {line}")
        self.name, self.line = name, line


class _Refused(Exception):
    """A key or number the loader refuses: `what(key)` words it; `lines` say where (empty in a `--set` value)."""

    def __init__(self, key: str, text: str, lines: tuple[int, ...]) -> None:
        super().__init__(key)
        self.key, self.text, self.lines = key, text, lines

    def what(self, key: str) -> str:
        raise NotImplementedError


class _DuplicateKey(_Refused):
    def what(self, key: str) -> str:
        at = f" at lines {self.lines[0]} and {self.lines[1]}" if self.lines else ""
        return f"duplicate key '{key}'{at} (YAML would silently keep only the second); keep one"


class _AmbiguousNumber(_Refused):
    def what(self, key: str) -> str:
        old, new = yaml.load(self.text, Loader=yaml.SafeLoader), _yaml12(self.text)
        number = next((v for v in (new, old) if isinstance(v, (int, float)) and not isinstance(v, bool)), None)
        at = f" (line {self.lines[0]})" if self.lines else ""

        def read(v: Any) -> str:
            return "a string" if isinstance(v, str) else str(v)
        reads = (f"is read as {read(old)}, a number form configs do not take" if old == new else
                 f"is read as {read(old)} by YAML 1.1 and as {read(new)} by YAML 1.2")
        plain = f"{number}" if number is not None else "a plain decimal number"
        return f"{key}: {self.text}{at} {reads}; write {plain}, or '{self.text}' in quotes for a string"


# YAML 1.2 core schema numbers (https://yaml.org/spec/1.2.2/#1032-tag-resolution): decimal ints without leading zeros,
# floats with a dot or an exponent (`1e-3` included, which PyYAML's YAML 1.1 patterns leave a string).
_INT = r"[-+]?(?:0|[1-9][0-9]*)"
_FLOAT = r"""[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?[0-9]+[eE][-+]?[0-9]+
            |[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"""
_AMBIGUOUS_TAG = "tag:milestones,2024:ambiguous-number"
_NUMBER_CHARS = list("-+0123456789.")


def _yaml12(text: str) -> Any:
    """What a YAML 1.2 core-schema reader makes of a plain scalar that looks like a number."""
    if re.fullmatch(r"[-+]?[0-9]+", text):
        return int(text, 10)  # leading zeros are decimal in YAML 1.2 (octal in 1.1)
    if re.fullmatch(r"0o[0-7]+|0x[0-9a-fA-F]+", text):
        return int(text, 0)
    if re.fullmatch(_FLOAT, text, re.X):
        return float(text)
    return text  # 0b101, 1_000, 1:30: strings in YAML 1.2


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, strict: aliases refused before they expand (they can nest exponentially), duplicate
    keys refused with both lines, numbers read by YAML 1.2 rules, and the forms YAML 1.1 and 1.2 read differently
    (`012`, `0777`, `1:30`, `0x10`, `0o17`, `0b101`, `1_000`) refused rather than guessed."""

    lines = True  # name lines in messages (not in `--set` values: _SetLoader)

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):  # refused before it is expanded: aliases can nest exponentially
            event = self.peek_event()
            raise _AliasRefused(str(event.anchor), event.start_mark.line + 1)
        return super().compose_node(parent, index)

    def construct_document(self, node: Any) -> Any:
        _check_node(node, "", self.lines)
        return super().construct_document(node)


def _check_node(node: Any, key: str, lines: bool) -> None:
    """Refuse a duplicate key or an ambiguous number anywhere below `node`, naming its dotted key."""
    def line(n: Any) -> tuple[int, ...]:
        return (n.start_mark.line + 1,) if lines else ()

    if isinstance(node, yaml.MappingNode):
        seen: dict[str, Any] = {}
        for k, v in node.value:
            name = str(k.value) if isinstance(k, yaml.ScalarNode) else "?"
            child = f"{key}.{name}" if key else name
            _check_node(k, child, lines)
            if isinstance(k, yaml.ScalarNode) and name in seen:
                raise _DuplicateKey(child, name, (*line(seen[name]), *line(k)))
            seen[name] = k
            _check_node(v, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _check_node(item, f"{key}[{i}]", lines)
    elif isinstance(node, yaml.ScalarNode) and node.tag == _AMBIGUOUS_TAG:
        raise _AmbiguousNumber(key, node.value, line(node))


class _SetLoader(_Loader):
    lines = False  # a --set value is one line: its line number means nothing


# The int and float resolvers replaced by YAML 1.2's; then every other form YAML 1.1 takes for a number, and the
# 1.2-only forms (`0o17`, `019`), resolved to a tag no constructor takes: _check_node refuses it first.
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(f"^(?:{_INT})$"), list("-+0123456789"))
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(f"^(?:{_FLOAT})$", re.X), _NUMBER_CHARS)
_YAML11_NUMBERS = [rx.pattern for tag, rx in yaml.SafeLoader.yaml_implicit_resolvers["1"]
                   if tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")]
_Loader.add_implicit_resolver(
    _AMBIGUOUS_TAG, re.compile("|".join([*_YAML11_NUMBERS, r"^[-+]?0o[0-7_]+$", r"^[-+]?0[0-9_]+$"]), re.X),
    _NUMBER_CHARS)


class _Dumper(yaml.SafeDumper):
    """Writes what _Loader reads back: a string that _Loader would take for a number (or refuse) is quoted."""


_Dumper.yaml_implicit_resolvers = _Loader.yaml_implicit_resolvers


def parse_value(text: str, key: str = "value", where: str = "--set") -> Any:
    """Parse one `--set` value as YAML ('5' -> 5, '1e-3' -> 0.001, 'true' -> True, '[1, 2]' -> [1, 2]); text that
    is not YAML stays text. A number YAML 1.1 and 1.2 read differently ('012') or a duplicate key is a ConfigError."""
    try:
        return yaml.load(text, Loader=_SetLoader)
    except _Refused as e:
        inner = e.key if not e.key or e.key.startswith("[") else f".{e.key}"
        raise ConfigError(f"{where}: {e.what(key + inner)}") from None
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
    node[parts[-1]] = parse_value(text, key.strip(), where)


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


def read_yaml(path: Path) -> Any:
    """The YAML document in `path`, read strictly (see _Loader); anything wrong is a one-line ConfigError."""
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror})") from None
    except _AliasRefused as e:
        raise ConfigError(f"{path}: YAML aliases are not allowed in configs (*{shown(e.name)[1:-1]} at line "
                          f"{e.line}); write the value out") from None
    except _Refused as e:
        raise ConfigError(f"{path}: {e.what(e.key)}") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to be a config") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{path}: malformed YAML{at}: {problem}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (not UTF-8)") from None


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Load a YAML config (a path, or a shipped config's name), apply `key=value` overrides, check every key,
    type and value."""
    path = find_config(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    size = path.stat().st_size
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: {size:,} bytes is not a config (the limit is {MAX_CONFIG_BYTES:,})")
    raw = read_yaml(path)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections, got {type(raw).__name__}")
    for item in overrides:
        apply_override(raw, item)
    return config_from_dict(raw, where=str(path), name=path.stem)


def config_yaml(cfg: Config) -> str:
    """The resolved config as YAML text (it loads back with load_config)."""
    return yaml.dump(cfg.to_dict(), Dumper=_Dumper, sort_keys=False)


def save_config(cfg: Config, path: str | Path) -> None:
    """Write the resolved config as YAML (it loads back with load_config). (A run folder's config.yaml is written
    whole or not at all: runfolder.start_logs.)"""
    Path(path).write_text(config_yaml(cfg), encoding="utf-8")


def with_overrides(cfg: Config, **sections: dict[str, Any]) -> Config:
    """A copy of `cfg` with fields replaced, e.g. with_overrides(cfg, trainer={"epochs": 3}, data={...})."""
    cfg = dataclasses.replace(cfg)
    for section, values in sections.items():
        if section in ("name", "output_dir", "seed"):
            cfg = dataclasses.replace(cfg, **{section: values})
        else:
            setattr(cfg, section, dataclasses.replace(getattr(cfg, section), **values))
    return cfg
