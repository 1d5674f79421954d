"""The leaderboard: one row per experiment (a config without its seed), seeds averaged, the paper's number beside
ours; and the plain markdown table the other reports (claims, the planner, scripts) are written in.

    write_leaderboard(group(runs), out)       leaderboard.md and leaderboard.csv (compare.py gathers the runs)
    markdown_table(["a", "b"], [[1, 2]])      "| a | b |\n|---|---|\n| 1 | 2 |\n"
    write_outputs(out, table, data)           a script's table.md and results.json, which names its command
"""

from __future__ import annotations

import csv
import json
import shlex
import statistics
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

from .runs import Entry, experiment_key


COLUMNS = ["era", "year", "model", "data", "params", "metric", "ours (mean ± std)", "seeds", "paper", "epochs",
           "train min", "hardware", "torch", "config"]
CSV_COLUMNS = ["era", "year", "model", "data", "params", "metric", "mean", "std", "seeds", "paper", "paper_source",
               "epochs", "train_minutes", "hardware", "torch", "config"]


def rows(entries: list[Entry]) -> list[dict[str, Any]]:
    """One row of facts per experiment with results, keyed by CSV_COLUMNS: numbers as numbers (std None for one
    seed; the paper's number and its source apart, None without one). The markdown table and the CSV file are two
    spellings of these rows."""
    out = []
    for e in entries:
        if not e.values:
            continue
        mean, std = e.mean_std()
        p = e.paper if e.paper and e.paper.get("value") is not None else {}
        r0 = e.first.results
        out.append({"era": e.era, "year": e.year, "model": e.model, "data": e.data, "params": r0.get("params"),
                    "metric": e.task.headline.label, "mean": mean, "std": std if len(e.values) > 1 else None,
                    "seeds": len(e.values), "paper": p.get("value"),
                    "paper_source": p.get("source", "").split(",")[0],
                    "epochs": "/".join(map(str, sorted({r.results.get("epochs") for r in e.runs}))),
                    "train_minutes": statistics.fmean(r.results.get("train_seconds", 0.0) for r in e.runs) / 60,
                    "hardware": r0.get("hardware"), "torch": r0.get("torch"),
                    "config": experiment_key(e.first.config)})
    return out


def markdown_row(r: dict[str, Any]) -> list[str]:
    """A row of `rows` as the markdown table's cells (COLUMNS)."""
    ours = f"{r['mean']:.2f}" if r["std"] is None else f"{r['mean']:.2f} ± {r['std']:.2f}"
    paper = "—" if r["paper"] is None else f"{r['paper']:g} ({r['paper_source']})"
    return [r["era"], str(r["year"]), r["model"], r["data"], f"{r['params'] or 0:,}", r["metric"], ours,
            str(r["seeds"]), paper, r["epochs"], f"{r['train_minutes']:.1f}", str(r["hardware"] or "?"),
            str(r["torch"] or "?"), r["config"]]


def csv_rows(entries: list[Entry]) -> list[list[Any]]:
    """leaderboard.csv: the rows as numbers a spreadsheet or pandas sorts (mean and std apart, std empty for one
    seed; the paper's number apart from its source)."""
    rounding = {"mean": 4, "std": 4, "train_minutes": 2}
    return [["" if r[c] is None else round(r[c], rounding[c]) if c in rounding else r[c] for c in CSV_COLUMNS]
            for r in rows(entries)]


def markdown(entries: list[Entry], title: str = "Leaderboard", unreadable: Sequence[str] = ()) -> str:
    body = [markdown_row(r) for r in rows(entries)]
    lines = [f"# {title}", "",
             "Ours: mean ± sample standard deviation over seeds. Paper: the published number for the same model and "
             "data set (sources in milestones/papers.yaml), usually after a far longer schedule: see the epochs.", ""]
    if unreadable:
        lines += [f"**{len(unreadable)} run folder(s) could not be read and are left out:**", ""]
        lines += [f"- {why}" for why in unreadable] + [""]
    lines += ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in body]
    sources = [f"- {p['model']} / {p['data']}: {p['value']:g} — {p['source']}"
               + (f" ({p['setting']})" if p.get("setting") else "")
               for p in (e.paper for e in entries) if p and p.get("value") is not None]
    if sources:  # once each: the same paper's number stands beside a model on every data size
        lines += ["", "Sources:", ""] + list(dict.fromkeys(sources))
    return "\n".join(lines) + "\n"


def write_leaderboard(entries: list[Entry], out: Path, title: str = "Leaderboard",
                      unreadable: Sequence[str] = ()) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / "leaderboard.md").write_text(markdown(entries, title, unreadable), encoding="utf-8")
    with open(out / "leaderboard.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(CSV_COLUMNS)
        w.writerows(csv_rows(entries))
    return out / "leaderboard.md"


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def write_outputs(out: Path, table: str, data: dict[str, Any], intro: Optional[str] = None, *,
                  command: Optional[str] = None, show: bool = True) -> None:
    """A script's report: table.md (the intro, then the table) and results.json (`data` under the command that made
    it: `command`, else the script's own command line), printed too unless `show` is false."""
    (out / "table.md").write_text((intro + "\n\n" if intro else "") + table)
    command = command or shlex.join(["python", *sys.argv])
    (out / "results.json").write_text(json.dumps({"command": command, **data}, indent=2) + "\n")
    if show:
        print((intro + "\n\n" if intro else "") + table)
