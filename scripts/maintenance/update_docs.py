"""Regenerate the docs' tables that come from files, so a committed copy cannot drift from its source.

    python scripts/maintenance/update_docs.py           # rewrite every generated block in place
    python scripts/maintenance/update_docs.py --check   # only compare: exit 1 naming each stale block

A generated block sits between two marker comments, in README.md, RESULTS.md or any docs/*.md file:

    <!-- generated: zoo-table -->
    ...written by this script...
    <!-- end -->

On one line (`<!-- generated: bad-input-count -->86<!-- end -->`) the block is inline; otherwise its text is put on
the lines between the markers. The blocks and their sources:

    story-table      README's story: each era's shipped number (milestones/weights/zoo.yaml, read by
                     milestones.pretrained) or a run measured in RESULTS.md (the number must be in the linked
                     section), beside the published number (milestones/papers.yaml)
    zoo-table        the registry as `milestones zoo --markdown` prints it (milestones.catalog.zoo_markdown)
    zoo-count        how many registry entries, and how many ship a file
    claims-table     the claims table of the committed claims.md (docs/results/claims_quick/claims.md)
    bad-input-count  the number of cases in tests/test_bad_input.py (CASES)

tests/test_docs.py runs `--check`'s comparison (no data root needed, a few seconds).
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import yaml

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

COMMAND = "python scripts/maintenance/update_docs.py"
BLOCK = re.compile(r"<!-- generated: ([a-z0-9-]+) -->(.*?)<!-- end -->", re.S)
PAPERS = REPO / "milestones" / "papers.yaml"
RESULTS = REPO / "RESULTS.md"
CLAIMS = REPO / "docs" / "results" / "claims_quick" / "claims.md"
BAD_INPUT_TESTS = REPO / "tests" / "test_bad_input.py"


def doc_files() -> list[Path]:
    """The files whose generated blocks this script keeps: README.md, RESULTS.md, docs/*.md."""
    return [p for p in [REPO / "README.md", RESULTS, *sorted((REPO / "docs").glob("*.md"))] if p.is_file()]


# --- sources --------------------------------------------------------------------------------------------------------

def _papers() -> list[dict]:
    return yaml.safe_load(PAPERS.read_text(encoding="utf-8")) or []


def paper(model: str, data: str, metric: str, seq_len: Optional[int] = None) -> str:
    """The published number for (model, data, metric) as `milestones compare` picks it (the first row without
    `context`), with its short label: '98.75 (Srivastava et al. 2014)'; '-' when there is none."""
    for p in _papers():
        if (p.get("model"), p.get("data"), p.get("metric")) == (model, data, metric) and not p.get("context") \
                and (seq_len is None or p.get("seq_len", seq_len) == seq_len):
            if p.get("value") is None:
                return "-"
            unit = "%" if metric in ("test_acc", "solved", "top5_acc") else ""
            prefix = "BLEU " if "bleu" in metric else ""
            return f"{prefix}{p['value']:g}{unit} ({str(p.get('source', '')).split(',')[0]})"
    return "-"


def slug(heading: str) -> str:
    """GitHub's anchor for a markdown heading."""
    s = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return s.replace(" ", "-")


def section(path: Path, anchor: str) -> str:
    """The text of the section of `path` whose heading has this anchor, up to the next heading of its level or
    above; raises if there is no such heading."""
    lines = path.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"(#+) (.*)", line)
        if m and slug(m.group(2)) == anchor:
            level, out = len(m.group(1)), []
            for rest in lines[i + 1:]:
                n = re.match(r"(#+) ", rest)
                if n and len(n.group(1)) <= level:
                    break
                out.append(rest)
            return "\n".join(out)
    raise SystemExit(f"{path.name}: no heading with the anchor #{anchor}")


@dataclass
class Zoo:
    """A shipped registry entry's number: `milestones eval --weights NAME`, single view / greedy."""
    name: str
    what: str  # the test set, in words

    @staticmethod
    def beam_width(e) -> str:
        width = ((e.recipe.get("config") or {}).get("trainer") or {}).get("beam")
        return str(width) if width else "search"

    def text(self) -> str:
        from milestones.pretrained import get_weights

        e = get_weights(self.name)
        unit = "%" if e.metric in ("test_acc", "acc") else ""
        prefix = "BLEU " if "bleu" in e.metric else ""
        views, beam = e.extra.get("views_value"), e.extra.get("beam_value")
        beside = (f" ({views:.2f}{unit} with test-time views)" if views is not None else
                  f" greedy, {beam:.2f} beam {self.beam_width(e)}" if beam is not None else "")
        return f"{prefix}{e.value:.2f}{unit}{beside} on {self.what} (`{self.name}`)"


@dataclass
class Measured:
    """A run reported in RESULTS.md under `anchor` (with its command, hardware and seed there): `number` must
    appear in that section, so the table cannot keep a number RESULTS.md no longer has."""
    number: str
    text: str  # how the table says it; contains `number`
    anchor: str

    def render(self) -> str:
        if self.number not in section(RESULTS, self.anchor):
            raise SystemExit(f"RESULTS.md#{self.anchor} no longer holds {self.number}: update STORY in {COMMAND}")
        return f"{self.text} ([run](RESULTS.md#{self.anchor}))"


DATA_NAMES = {"mnist": "MNIST", "cifar10": "CIFAR-10", "multi30k": "Multi30k", "adding": "adding problem"}

# The story, era by era. Text is written here; every number comes from the registry, RESULTS.md or papers.yaml.
REF17 = "the-translators-at-their-reference-recipes-issue-17-2026-11-30"
STORY: list[tuple[str, str, str, list, tuple]] = [
    ("1986", "MLP", "pixels in, fully connected: fine on digits, weak on photos",
     [Zoo("mlp_mnist", "MNIST"), Zoo("mlp_cifar10", "CIFAR-10, JPEG copy")], ("mlp", "mnist", "test_acc")),
    ("1997", "LSTM", "gates carry information across long time lags",
     [Zoo("lstm_adding100", "the adding problem, T=100 (sequences solved)"),
      Zoo("rnn_adding100", "the same by a tanh RNN of its size")], ("lstm", "adding", "solved", 100)),
    ("1998", "LeNet-5", "local filters, on the digits they were made for",
     [Zoo("lenet5_mnist", "MNIST")], ("lenet5", "mnist", "test_acc")),
    ("2012", "AlexNet", "local filters jump over the MLP on real photos",
     [Zoo("alexnet_cifar10", "CIFAR-10, JPEG copy")], ("alexnet", "cifar10", "test_acc")),
    ("2014", "LSTM seq2seq", "one vector carries a sentence",
     [Zoo("seq2seq_enja", "small_parallel_enja ja->en"), Measured("15.59", "BLEU 15.59 greedy on Multi30k de->en", REF17)],
     ("seq2seq", "multi30k", "test_bleu")),
    ("2015", "ResNet", "residual connections let depth keep paying",
     [Zoo("resnet20_cifar10", "CIFAR-10, JPEG copy")], ("resnet20", "cifar10", "test_acc")),
    ("2015", "RNNsearch", "attention keeps long sentences from collapsing",
     [Zoo("rnnsearch_enja", "small_parallel_enja ja->en"), Measured("33.86", "BLEU 33.86 greedy on Multi30k de->en", REF17)],
     ("rnnsearch", "multi30k", "test_bleu")),
    ("2017", "Transformer", "attention only, parallel in time",
     [Zoo("transformer_enja", "small_parallel_enja ja->en"), Measured("35.59", "BLEU 35.59 greedy on Multi30k de->en", REF17)],
     ("transformer", "multi30k", "test_bleu")),
    ("2020", "ViT", "patches and attention, no convolutions: needs more data than a convnet",
     [Zoo("vit_cifar10", "CIFAR-10, JPEG copy, from scratch in 155 CPU minutes"),
      Zoo("vit_cifar10_n5000", "5,000 of its training images"),
      Zoo("resnet20_cifar10_n5000", "the same 5,000 images, by ResNet-20")],
     ("vit_tiny", "cifar10", "test_acc")),
]


def story_table() -> str:
    lines = ["| year | era | claim | ours: shipped weights or a measured run | published |", "|---|---|---|---|---|"]
    for year, era, claim, ours, ref in STORY:
        cells = [o if isinstance(o, str) else o.text() if isinstance(o, Zoo) else o.render() for o in ours]
        published = paper(*ref)
        if len(ours) > 1 and published != "-":  # say which of our numbers the published one stands beside
            published = f"{DATA_NAMES.get(ref[1], ref[1])}: {published}"
        lines.append(f"| {year} | {era} | {claim} | {'; '.join(cells)} | {published} |")
    return "\n".join(lines)


def zoo_table() -> str:
    from milestones.catalog import zoo_markdown

    return zoo_markdown()


def zoo_count() -> str:
    from milestones.pretrained import list_weights

    entries = list_weights()
    return f"{len(entries)} entries, {sum(1 for e in entries if e.file)} of them with a shipped file"


def claims_table() -> str:
    """The table (and its 'Not checked' line) of the committed claims.md, as `milestones compare` wrote it."""
    text = CLAIMS.read_text(encoding="utf-8")
    keep = [l for l in text.splitlines() if l.startswith("|") or l.startswith("Not checked")]
    return "\n".join(l if l.startswith("|") else "\n" + l for l in keep)


def bad_input_cases() -> int:
    """How many cases tests/test_bad_input.py runs: its `Case(...)` calls, each a listed case (read without
    importing the test module, which needs torch and the CLI)."""
    tree = ast.parse(BAD_INPUT_TESTS.read_text(encoding="utf-8"))
    return sum(1 for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "Case")


def bad_input_count() -> str:
    return str(bad_input_cases())


GENERATORS: dict[str, Callable[[], str]] = {
    "story-table": story_table, "zoo-table": zoo_table, "zoo-count": zoo_count, "claims-table": claims_table,
    "bad-input-count": bad_input_count}


# --- blocks ---------------------------------------------------------------------------------------------------------

def render(text: str, where: str, cache: dict[str, str]) -> str:
    """`text` with every generated block rewritten from its source."""
    def one(m: re.Match) -> str:
        name = m.group(1)
        if name not in GENERATORS:
            raise SystemExit(f"{where}: unknown generated block '{name}' (known: {', '.join(GENERATORS)})")
        if name not in cache:
            cache[name] = GENERATORS[name]().strip("\n")
        inline = "\n" not in m.group(2)
        body = cache[name] if inline else f"\n{cache[name]}\n"
        return f"<!-- generated: {name} -->{body}<!-- end -->"
    return BLOCK.sub(one, text)


def stale() -> list[tuple[Path, str]]:
    """(file, expected text) for every file whose generated blocks differ from their sources."""
    cache: dict[str, str] = {}
    out = []
    for path in doc_files():
        text = path.read_text(encoding="utf-8")
        if "<!-- generated:" not in text:
            continue
        new = render(text, str(path.relative_to(REPO)), cache)
        if new != text:
            out.append((path, new))
    return out


def changed_blocks(old: str, new: str) -> list[str]:
    return [a.group(1) for a, b in zip(BLOCK.finditer(old), BLOCK.finditer(new)) if a.group(0) != b.group(0)]


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only compare; exit 1 when a block is stale")
    args = ap.parse_args(argv)
    found = stale()
    for path, new in found:
        rel = path.relative_to(REPO)
        blocks = ", ".join(changed_blocks(path.read_text(encoding="utf-8"), new))
        if args.check:
            print(f"{rel}: stale generated block(s): {blocks}")
        else:
            path.write_text(new, encoding="utf-8")
            print(f"{rel}: rewrote {blocks}")
    if args.check and found:
        print(f"regenerate with: {COMMAND}")
        return 1
    if not found:
        print("generated blocks are up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
