"""Regenerate the executed notebooks from their percent-format sources: notebooks/NAME.py -> notebooks/NAME.ipynb.

    python scripts/maintenance/build_notebooks.py                     # every notebook
    python scripts/maintenance/build_notebooks.py 03_sequences        # one (or a few), by name

The `.py` file is the one a developer edits (percent format: `# %%` starts a code cell, `# %% [markdown]` a text
cell, `# %% tags=["check"]` a code cell whose output is checked); the `.ipynb` beside it is what a reader opens,
on GitHub or in Jupyter, with its outputs and figures in place. This script converts each source with jupytext,
executes it top to bottom in a real Jupyter kernel (nbclient, ipykernel: this Python, whatever other kernels are
installed) with the notebooks folder as the working directory, and writes the result with nothing volatile in it:
cell ids are numbered, per-cell timings are not recorded, the notebook's metadata is fixed. The notebooks seed
their own random numbers, so a regeneration with unchanged code and weights changes no byte of their text.

tests/test_notebooks.py executes every notebook the same way and fails, naming this command, when a committed
notebook's cells differ from its source or a cell tagged `check` (numbers from the shipped weights) prints
something else than a fresh run. Run under `nice -n 10` on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import jupytext
import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
REGENERATE = "python scripts/maintenance/build_notebooks.py"
CHECK_TAG = "check"  # a code cell whose text output is deterministic (numbers from the shipped weights)
CELL_TIMEOUT = 300  # seconds a cell may run before the kernel is stopped (each notebook takes well under a minute)
METADATA = {  # the same for every notebook: no versions, nothing that changes between machines
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "language_info": {"name": "python"},
}


def sources() -> list[Path]:
    """Every notebook source, in reading order (their names start with a number)."""
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))


def from_source(py: Path) -> nbformat.NotebookNode:
    """The unexecuted notebook of a percent-format source: its cells, numbered ids, fixed metadata."""
    nb = jupytext.read(py, fmt="py:percent")
    nb.metadata = nbformat.from_dict(METADATA)
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i:02d}"  # nbformat's default is random: every regeneration would change every cell
        cell.metadata.pop("lines_to_next_cell", None)  # jupytext's round-trip hint, not part of the notebook
    nbformat.validate(nb)
    return nb


def this_python_kernel() -> KernelManager:
    """A kernel manager for ipykernel in the running interpreter, ignoring any other installed "python3" kernel
    (a user-wide kernelspec of another environment would otherwise run the notebooks without this checkout)."""
    return KernelManager(kernel_name="python3", kernel_spec_manager=KernelSpecManager(kernel_dirs=[]))


def merge_streams(cell: nbformat.NotebookNode) -> None:
    """Consecutive printed outputs of one stream as one output: how a front end shows them, and where a kernel's
    flushes cut the text varies from run to run."""
    merged = []
    for o in cell.get("outputs", []):
        if o.output_type == "stream" and merged and merged[-1].output_type == "stream" and merged[-1].name == o.name:
            merged[-1].text += o.text
        else:
            merged.append(o)
    cell.outputs = merged


def execute(nb: nbformat.NotebookNode, timeout: int = CELL_TIMEOUT) -> nbformat.NotebookNode:
    """Run every cell in a fresh kernel (working directory: notebooks/); an error in a cell raises
    nbclient.exceptions.CellExecutionError naming the cell and its traceback."""
    km = this_python_kernel()
    client = NotebookClient(nb, km=km, timeout=timeout, record_timing=False,
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    with tempfile.TemporaryDirectory(prefix="milestones_notebook_") as scratch:
        try:  # the notebooks' temporary folders (images, runs, figures) go into `scratch`, removed afterwards
            client.execute(env={**os.environ, "TMPDIR": scratch})
        finally:
            if km.has_kernel:  # a kernel manager passed in is the caller's to stop
                km.shutdown_kernel(now=True)
    nb.metadata = nbformat.from_dict(METADATA)  # the kernel adds its Python's version
    for cell in nb.cells:
        cell.metadata.pop("execution", None)  # timestamps, in case a client records them anyway
        if cell.cell_type == "code":
            merge_streams(cell)
    return nb


def build(py: Path, timeout: int = CELL_TIMEOUT) -> nbformat.NotebookNode:
    """The executed notebook of a source."""
    return execute(from_source(py), timeout)


def write(nb: nbformat.NotebookNode, path: Path) -> None:
    text = nbformat.writes(nb) + "\n"
    path.write_text(text, encoding="utf-8")


# --- the checks tests/test_notebooks.py makes ----------------------------------------------------------------------

def _cells(nb: nbformat.NotebookNode) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(c.cell_type, c.source, tuple(c.metadata.get("tags", ()))) for c in nb.cells]


def cells_differ(committed: nbformat.NotebookNode, source: nbformat.NotebookNode) -> list[str]:
    """Where a committed notebook's cells (kind, text, tags) differ from its source's; empty if they agree."""
    a, b = _cells(committed), _cells(source)
    problems = [f"cell {i}: the .ipynb has {x[0]} cell {x[1][:60]!r}, the .py {y[0]} cell {y[1][:60]!r}"
                for i, (x, y) in enumerate(zip(a, b)) if x != y]
    if len(a) != len(b):
        problems.append(f"the .ipynb has {len(a)} cells, the .py {len(b)}")
    return problems


def text_outputs(cell: nbformat.NotebookNode) -> list[str]:
    """A code cell's outputs as lines of text: printed lines (marked stdout or stderr) and the markdown or plain-text
    form of displayed values. Figures are left out: their pixels depend on the fonts installed."""
    lines = []
    for o in cell.get("outputs", []):
        if o.output_type == "stream":
            lines += [f"[{o.name}] {line}" for line in o.text.splitlines()]
        elif o.output_type in ("execute_result", "display_data"):
            data = o.get("data", {})
            if "image/png" not in data:
                lines += (data.get("text/markdown") or data.get("text/plain", "")).splitlines()
        elif o.output_type == "error":
            lines.append(f"[error] {o.ename}: {o.evalue}")
    return lines


def checked_outputs_differ(committed: nbformat.NotebookNode, fresh: nbformat.NotebookNode) -> list[str]:
    """Where a cell tagged `check` shows other text in the committed notebook than in a fresh run: each as the
    cell's number and its first differing line, committed then fresh."""
    problems = []
    for i, (old, new) in enumerate(zip(committed.cells, fresh.cells)):
        if CHECK_TAG not in new.metadata.get("tags", ()):
            continue
        was, now = text_outputs(old), text_outputs(new)
        if was != now:
            n = next((n for n, (x, y) in enumerate(zip(was, now)) if x != y), min(len(was), len(now)))
            problems.append(f"cell {i}, line {n + 1}: committed {was[n] if n < len(was) else '(nothing)'!r}, "
                            f"a fresh run {now[n] if n < len(now) else '(nothing)'!r}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="notebooks to regenerate (default: all), e.g. 03_sequences")
    args = parser.parse_args(argv)
    todo = sources()
    if args.names:
        known = {p.stem: p for p in todo}
        unknown = [n for n in args.names if n.removesuffix(".py").removesuffix(".ipynb") not in known]
        if unknown:
            parser.error(f"no notebook {', '.join(unknown)} (notebooks: {', '.join(known)})")
        todo = [known[n.removesuffix(".py").removesuffix(".ipynb")] for n in args.names]
    for py in todo:
        start = time.perf_counter()
        nb = build(py)
        write(nb, py.with_suffix(".ipynb"))
        print(f"{py.with_suffix('.ipynb').relative_to(REPO)}: {len(nb.cells)} cells, "
              f"executed in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
