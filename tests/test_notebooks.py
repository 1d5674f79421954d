"""The notebooks (issue #33): each one executed top to bottom by a real Jupyter kernel (nbclient, ipykernel), and the
committed `.ipynb` files checked against their percent-format sources and against a fresh run. Regenerate with

    python scripts/maintenance/build_notebooks.py

A committed notebook must have its source's cells (kind, text, tags), and every cell tagged `check` (numbers from
the shipped weights, which a fresh run reproduces exactly) must show what a fresh run shows. Figures and untagged
cells (timings, fine-tuning on this machine) are not compared. Each notebook is executed once per session; all four
take about two minutes on 2 busy CPU cores.
"""

from __future__ import annotations

import copy
import functools
import importlib.util
import sys

import pytest

from conftest import REPO

nbformat = pytest.importorskip("nbformat", reason="the notebooks' tests need the dev extra: pip install -e '.[dev]'")
pytest.importorskip("nbclient", reason="the notebooks' tests need the dev extra: pip install -e '.[dev]'")
pytest.importorskip("jupytext", reason="the notebooks' tests need the dev extra: pip install -e '.[dev]'")

SCRIPT = REPO / "scripts" / "maintenance" / "build_notebooks.py"


@functools.lru_cache(maxsize=1)
def _builder():
    """scripts/maintenance/build_notebooks.py as a module (scripts are not a package)."""
    spec = importlib.util.spec_from_file_location("build_notebooks", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


NAMES = [p.stem for p in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.py"))]


@functools.lru_cache(maxsize=None)
def _fresh(name: str):
    """The notebook executed now, in a new kernel (once per test session); a failing cell fails the test."""
    from nbclient.exceptions import CellExecutionError

    build = _builder()
    try:
        return build.build(REPO / "notebooks" / f"{name}.py")
    except CellExecutionError as e:
        pytest.fail(f"notebooks/{name}.py: a cell failed in the kernel:\n{str(e)[-3000:]}")


def _committed(name: str):
    return nbformat.read(REPO / "notebooks" / f"{name}.ipynb", as_version=4)


def _check_outputs(name: str, committed, fresh) -> None:
    """Fails, naming the command that regenerates the notebooks, where a `check` cell's output went stale."""
    stale = _builder().checked_outputs_differ(committed, fresh)
    assert not stale, (f"notebooks/{name}.ipynb shows other numbers than a fresh run ({'; '.join(stale)}): "
                       f"regenerate it with `{_builder().REGENERATE}`")


def test_the_four_notebooks_are_there_each_with_its_executed_copy():
    assert NAMES == ["01_eras_at_a_glance", "02_images", "03_sequences", "04_your_data"]
    executed = sorted(p.stem for p in (REPO / "notebooks").glob("*.ipynb"))
    assert executed == NAMES, f"each notebooks/NAME.py needs its NAME.ipynb and no other: regenerate with " \
                              f"`{_builder().REGENERATE}`"


@pytest.mark.parametrize("name", NAMES)
def test_a_committed_notebook_has_its_sources_cells(name):
    build = _builder()
    committed = _committed(name)
    differ = build.cells_differ(committed, build.from_source(REPO / "notebooks" / f"{name}.py"))
    if committed.metadata != build.METADATA:
        differ.append(f"its metadata is {dict(committed.metadata)}, not {build.METADATA}")
    assert not differ, f"notebooks/{name}.ipynb is not its .py's ({'; '.join(differ[:3])}): regenerate it with " \
                       f"`{build.REGENERATE}`"


@pytest.mark.parametrize("name", NAMES)
def test_a_notebook_runs_in_a_kernel_and_shows_what_is_committed(name):
    fresh = _fresh(name)
    errors = [o for c in fresh.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, f"{name}: {errors[0].ename}: {errors[0].evalue}"
    committed = _committed(name)
    assert not [o for c in committed.cells for o in c.get("outputs", []) if o.output_type == "error"]
    checked = [c for c in fresh.cells if _builder().CHECK_TAG in c.metadata.get("tags", ())]
    assert checked and all(_builder().text_outputs(c) for c in checked), "every notebook checks some output"
    _check_outputs(name, committed, fresh)
    assert any("image/png" in o.get("data", {}) for c in committed.cells for o in c.get("outputs", [])), \
        f"{name}: its figures are missing from the committed notebook"


def test_a_committed_notebook_whose_number_no_longer_matches_the_shipped_weights_fails(tmp_path):
    """mlp_mnist's 98.57% in the claims table of notebook 1, as if the weights had changed and the notebook had not
    been regenerated: the check names the cell, both lines and the command."""
    name = "01_eras_at_a_glance"
    tampered = copy.deepcopy(_committed(name))
    cell = next(c for c in tampered.cells if "judge()" in c.source)
    (out,) = [o for o in cell.outputs if "text/markdown" in o.get("data", {})]
    assert "mlp_mnist 98.57" in out.data["text/markdown"]
    out.data["text/markdown"] = out.data["text/markdown"].replace("mlp_mnist 98.57", "mlp_mnist 97.57")
    nbformat.write(tampered, tmp_path / f"{name}.ipynb")
    with pytest.raises(AssertionError) as failure:
        _check_outputs(name, nbformat.read(tmp_path / f"{name}.ipynb", as_version=4), _fresh(name))
    message = str(failure.value)
    assert "97.57" in message and "98.57" in message and "python scripts/maintenance/build_notebooks.py" in message
