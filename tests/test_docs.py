"""Docs that cannot drift: tables of numbers that come from files are generated from those files, and a committed
copy that differs from its source fails here. Regenerate with

    python scripts/maintenance/update_docs.py

Fast (no training, no data root): it reads the registry, papers.yaml, RESULTS.md and the committed claims.md.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import sys
from pathlib import Path

from conftest import REPO

SCRIPT = REPO / "scripts" / "maintenance" / "update_docs.py"
REGENERATE = "python scripts/maintenance/update_docs.py"


@functools.lru_cache(maxsize=1)
def _update_docs():
    """scripts/maintenance/update_docs.py as a module (scripts are not a package)."""
    spec = importlib.util.spec_from_file_location("update_docs", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_generated_blocks_match_their_sources():
    docs = _update_docs()
    stale = [f"{p.relative_to(REPO)}: {', '.join(docs.changed_blocks(p.read_text(encoding='utf-8'), new))}"
             for p, new in docs.stale()]
    assert not stale, f"generated doc blocks differ from their sources ({'; '.join(stale)}): regenerate with " \
                      f"`{REGENERATE}`"


def test_the_generated_tables_are_there():
    """The front page's story table, the zoo table and the claims table are generated blocks, not pasted copies."""
    texts = {p.name: p.read_text(encoding="utf-8") for p in _update_docs().doc_files()}
    assert "<!-- generated: story-table -->" in texts["README.md"]
    assert "<!-- generated: zoo-table -->" in texts["zoo.md"]
    assert "<!-- generated: claims-table -->" in texts["comparing.md"]
    assert "<!-- generated: bad-input-count -->" in texts["reliability.md"]


def test_bad_input_doc_lists_every_case_once():
    docs = _update_docs()
    cases = docs.bad_input_cases()
    text = (REPO / "docs" / "bad_input.md").read_text(encoding="utf-8")
    ids = re.findall(r"^\| `([a-z0-9_]+)` \|", text, re.M)
    stated = re.search(r"^(\d+) cases\.$", text, re.M)
    hint = "regenerate it with `MILESTONES_WRITE_DOCS=1 python -m pytest tests/test_bad_input.py`"
    assert stated and int(stated.group(1)) == cases, f"docs/bad_input.md states the wrong case count: {hint}"
    assert len(ids) == len(set(ids)) == cases, f"docs/bad_input.md lists {len(ids)} rows for {cases} cases: {hint}"


def test_readme_keeps_the_ci_test_command():
    """The README's test command is the one .ci/run runs (with the data root CI sets)."""
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    command = [l.strip() for l in ci.splitlines() if "pytest" in l and not l.lstrip().startswith("#")][-1]
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert f"MILESTONES_DATA=../shared/data {command}" in readme, command
    assert 'pip install -e ".[dev]"' in readme and "python -m pip install --quiet -e \".[dev]\"" in ci


def _anchors(path: Path) -> set[str]:
    docs = _update_docs()
    return {docs.slug(m.group(1)) for m in re.finditer(r"^#+ (.*)$", path.read_text(encoding="utf-8"), re.M)}


def test_relative_links_point_at_files_and_headings_that_exist():
    broken = []
    for page in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue
            file, _, anchor = target.partition("#")
            dest = (page.parent / file).resolve() if file else page
            if not dest.exists():
                broken.append(f"{page.relative_to(REPO)}: {target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
                broken.append(f"{page.relative_to(REPO)}: {target} (no such heading)")
    assert not broken, "; ".join(broken)
