"""What the package ships, listed without torch: its models, its configs and its trained weights.

    list_models("resnet*", pretrained=True)    `milestones list`: era, year, paper, parameters, shipped weights
    list_configs()                             `milestones configs`: each shipped config and its first comment line
    zoo_text("resnet*")                        `milestones zoo`: the registry as a table (zoo_rows, zoo_markdown)

These answer the commands that only list things, so they read tables and files (milestones/modelinfo.py, the
configs folder, milestones/weights/zoo.yaml through milestones/registry.py) and import nothing that imports torch:
those commands answer at once instead of after torch's ~2 s import (tests/test_cli.py checks that none of them
imports torch). Building, loading and training are elsewhere (models/, configfile.py, zoo.py).
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any, Optional

from .modelinfo import MODELS
from .registry import list_weights, registry

CONFIG_DIR = Path(__file__).parent / "configs"  # shipped in the package (and linked as configs/ in a checkout)


def list_configs() -> list[tuple[str, str]]:
    """(name, the first line of its leading comment) of every config shipped with the package."""
    out = []
    for p in sorted(CONFIG_DIR.glob("*.yaml")):
        first = next((l for l in p.read_text(encoding="utf-8").splitlines() if l.strip()), "")
        out.append((p.stem, first.lstrip("# ").strip() if first.startswith("#") else ""))
    return out


def list_models(pattern: str = "*", *, pretrained: bool = False) -> list[dict[str, Any]]:
    """One row per model whose name matches `pattern` ("resnet*"): name, era, year, paper, parameter count with
    default arguments (as recorded in milestones/modelinfo.py), and the names of its registry entries whose weights
    are shipped (`pretrained=True`: only the models that have some)."""
    shipped: dict[str, list[str]] = {}
    for e in registry().values():
        if e.shipped:
            shipped.setdefault(e.model, []).append(e.name)
    return [{"name": i.name, "era": i.era, "year": i.year, "paper": i.paper, "params": i.params,
             "weights": shipped.get(i.name, [])}
            for i in MODELS.values() if fnmatch.fnmatch(i.name, pattern) and (i.name in shipped or not pretrained)]


def zoo_markdown(pattern: str = "*") -> str:
    """The registry as a markdown table: each entry's numbers (as measured from its file), float32's beside them,
    its file, and how it was made."""
    lines = ["| weights | data | metric | value (single view / greedy) | views or beam | float32 | file | trained | "
             "recipe |", "|---|---|---|---|---|---|---|---|---|"]
    for e in list_weights(pattern):
        r, x = e.recipe, e.extra
        beside = x.get("views_value") if x.get("views_value") is not None else x.get("beam_value")
        fp32 = (x.get("fp16_check") or x.get("int8_check") or {}).get("float32", {}).get("value")
        made = (f"{r.get('epochs')} epochs, {r.get('train_minutes')} min, {r.get('hardware')}, torch {r.get('torch')}"
                if "epochs" in r else f"published: {r.get('published_value')} (exact pixels)")
        size = f"{e.bytes / 1e6:.2f} MB {e.dtype}" if e.file else "not shipped"
        lines.append(f"| `{e.name}` | {e.data} | {e.metric} | {e.value:.2f} | {'-' if beside is None else beside} | "
                     f"{'-' if fp32 is None else fp32} | {size} | {made} | `{e.command.split('  (')[0]}` |")
    total = sum(e.bytes for e in list_weights(pattern) if e.file)
    return "\n".join(lines) + f"\n\n{total / 1e6:.2f} MB of weight files in all."


def zoo_rows(pattern: str = "*") -> list[dict[str, Any]]:
    """`milestones zoo`: one row per entry: name, model, data, metric, value (views / beam beside), size, whether
    the file is present, training minutes."""
    rows = []
    for e in list_weights(pattern):
        rows.append({"name": e.name, "model": e.model, "data": e.data, "metric": e.metric, "value": e.value,
                     "views_value": e.extra.get("views_value"), "beam_value": e.extra.get("beam_value"),
                     "bytes": e.bytes, "dtype": e.dtype, "shipped": e.shipped, "default": e.default,
                     "train_minutes": e.recipe.get("train_minutes"), "command": e.command})
    return rows


def _number(value: Optional[float], metric: str) -> str:
    return "-" if value is None else f"{value:.2f}{'%' if metric == 'test_acc' else ''}"


def zoo_text(pattern: str = "*") -> str:
    """`milestones zoo`'s table for a terminal: one line per entry (zoo_rows), then how to load one."""
    lines = [f"{'weights':<22}{'data':<21}{'metric':<11}{'value':>8}{'views/beam':>11}{'size':>9}  {'file':<9}"
             f"{'trained':>8}"]
    for r in zoo_rows(pattern):
        size = f"{r['bytes'] / 1e6:.2f} MB" if r["bytes"] else "-"
        beside = _number(r["views_value"] if r["views_value"] is not None else r["beam_value"], r["metric"])
        minutes = f"{r['train_minutes']} min" if r["train_minutes"] is not None else "-"
        lines.append(f"{r['name'] + (' *' if r['default'] else ''):<22}{r['data']:<21}{r['metric']:<11}"
                     f"{_number(r['value'], r['metric']):>8}{beside:>11}{size:>9}  "
                     f"{'shipped' if r['shipped'] else 'absent':<9}{minutes:>8}")
    return "\n".join(lines) + ("\n\n* the model's DEFAULT weights; value: single view / greedy (the papers' "
                               "protocol), views/beam beside it;\nload: create_model(MODEL, weights=TAG) or "
                               "load_weights(NAME); absent files: `milestones zoo --json` names the command that "
                               "trains them")
