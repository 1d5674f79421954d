"""The life of a run, fuzzed (issue #32): a hypothesis state machine trains, kills, overwrites, resumes and compares
tiny runs in two run folders, keeps a model of what each run must have produced, and checks after every step that
the folders and the leaderboard hold only that.

The runs: an LSTM of 8 cells on the adding problem (T = 10, 256 sequences an epoch, 2 epochs), generated from the
seed, so no data set is needed: ~0.15 s each, in this process. Each config is also trained once, alone and
uninterrupted, in a folder of its own: its reference numbers (test numbers, per-epoch history, timings left out).

A kill is SIGKILL at a chosen file-system operation of the run, in this process: `Dying` counts the operations on
the test's folder (mkdir, open for writing, the first write of each opened file, rename, unlink, rmdir) and at the
k-th one writes half of what it was given (a write) or nothing (the rest), then raises `Killed`, a BaseException
nothing in milestones catches; from then on every operation on the folder raises again without doing anything, so
the `finally` blocks that a real kill would never run write nothing either. What reaches the files is flushed at
each write, so the folder holds exactly what a SIGKILL at that moment would leave. (A kill in the middle of an
epoch's batches leaves what a kill at the next operation leaves: no file changes in between.)

The steps, from a folder that holds a finished run: `train` (no flag), `--overwrite`, `--resume`, `--resume auto`
(half the time with the config of the checkpoint it would continue), each of four configs (the base, the base with
another seed, another learning rate and width, and one that diverges in its first epoch), each possibly with
`--set trainer.stop_epoch=1`, each killed half the time; and `compare` (after a step changed something). The
invariants, checked after every step:

- every number on the leaderboard (`runs.find_runs`, and compare's leaderboard.csv) is the reference number of the
  config beside it, and the board holds exactly the finished runs the model expects (no run left out silently);
- a folder's results.json, metrics.jsonl, config.yaml and checkpoint belong to one run: the same run id and config
  hash, the reference history; in a folder without results, the checkpoint and metrics are a prefix of one run;
- no step loses a finished run: the last run that finished in a folder keeps its results.json and its checkpoint,
  in the folder or in its .previous/, until another run finishes there;
- every step does what the model predicts: a refusal is one line and leaves the folder as it was; a run that
  finishes (from scratch or resumed) gives its config's reference numbers, bitwise.

Cases: 12 sequences of up to 10 steps (~100 steps, ~15 kills), derandomized so that CI runs the same ones every
time: ~20 s of CPU. More, drawn afresh: MILESTONES_FUZZ_EXAMPLES=200 python -m pytest tests/test_fuzz_runs.py
(~1,900 steps, ~250 kills at 20 kinds of operation, ~6 minutes). A failure is reported as drawn, its steps noted;
MILESTONES_FUZZ_SHRINK=1 shrinks it to the fewest steps first (minutes).
"""

from __future__ import annotations

import atexit
import builtins
import contextlib
import csv
import hashlib
import io
import json
import os
import re
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, Optional

import pytest
import yaml
from hypothesis import HealthCheck, Phase, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from milestones.__main__ import main
from milestones.checkpoint import (CHECKPOINT, CONFIG_FILE, METRICS_FILE, PREVIOUS_DIR, RESULTS_FILE,
                                   has_checkpoint, previous_checkpoint, read_checkpoint)
from milestones.configfile import load_config
from milestones.errors import CheckpointError, MilestonesError
from milestones.runs import experiment_key, find_runs

SCALE = int(os.environ.get("MILESTONES_FUZZ_EXAMPLES", "0")) or None

# --- killing a run at its k-th file-system operation, in this process ------------------------------------------------


class Killed(BaseException):
    """The process died here (a BaseException: `except Exception` in the code under test does not catch it)."""


class Dying:
    """Counts the file-system operations under `root`; at operation `at` (None: never) the process dies."""

    def __init__(self, root: Path, at: Optional[int]):
        self.root, self.at = os.path.realpath(root) + os.sep, at
        self.ops, self.dead, self.where = 0, False, None

    def inside(self, *paths: Any) -> bool:
        """Whether an operation on `paths` counts: one under the root, but not on open_run_folder's write probe."""
        return any(isinstance(p, (str, os.PathLike)) and os.path.realpath(os.fspath(p)).startswith(self.root)
                   and not os.path.basename(os.fspath(p)).startswith(".write_test") for p in paths)

    def point(self, what: str) -> bool:
        """One operation: raises if the process is already dead; True if it dies at this one."""
        if self.dead:
            raise Killed(f"dead since {self.where}")
        if self.ops == self.at:
            self.dead, self.where = True, what
        self.ops += 1
        return self.dead


class _DyingFile:
    """A file opened for writing under the root: each write reaches the file at once (flushed), the first write is
    an operation, and a kill there leaves half of it."""

    def __init__(self, f: Any, dying: Dying, name: str):
        self._f, self._dying, self._name, self._first = f, dying, name, True

    def write(self, data):
        if self._dying.dead:
            raise Killed(f"dead since {self._dying.where}")
        if self._first:
            self._first = False
            if self._dying.point(f"write {self._name}"):
                self._f.write(data[: len(data) // 2])
                self._f.flush()
                raise Killed(self._dying.where)
        n = self._f.write(data)
        self._f.flush()
        return n

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()

    def __getattr__(self, name):
        return getattr(self._f, name)


@contextlib.contextmanager
def dying(d: Dying):
    """Route the file-system calls milestones makes (os.*, open, pathlib's io.open) through `d`."""
    real_open = io.open

    def operation(name: str, fn, paths: int = 1):
        def call(*args, **kwargs):
            if d.inside(*args[:paths]) and not (name == "mkdir" and os.path.isdir(args[0])) \
                    and d.point(f"{name} {os.path.basename(os.fspath(args[paths - 1]))}"):
                raise Killed(d.where)
            return fn(*args, **kwargs)
        return call

    def opener(file, mode="r", *args, **kwargs):
        if not any(c in mode for c in "wax+") or not d.inside(file):
            return real_open(file, mode, *args, **kwargs)
        name = os.path.basename(os.fspath(file))
        if d.point(f"open {name} {mode}"):
            raise Killed(d.where)
        return _DyingFile(real_open(file, mode, *args, **kwargs), d, name)

    patches = {(os, "replace"): operation("rename", os.replace, 2), (os, "rename"): operation("rename", os.rename, 2),
               (os, "unlink"): operation("unlink", os.unlink), (os, "remove"): operation("unlink", os.remove),
               (os, "rmdir"): operation("rmdir", os.rmdir), (os, "mkdir"): operation("mkdir", os.mkdir),
               (builtins, "open"): opener, (io, "open"): opener}
    saved = {where: getattr(*where) for where in patches}
    for (module, name), fn in patches.items():
        setattr(module, name, fn)
    try:
        yield d
    finally:
        for (module, name), fn in saved.items():
            setattr(module, name, fn)


# --- the runs --------------------------------------------------------------------------------------------------------

BASE = {
    "seed": 0,
    "model": {"name": "lstm", "hidden_size": 8},
    "data": {"name": "adding", "seq_len": 10, "train_size": 256, "test_size": 128},
    "optim": {"name": "adamw", "lr": 1e-2},
    "schedule": {"name": "cosine"},
    "trainer": {"epochs": 2, "batch_size": 64, "progress": False, "threads": 1},
}
VARIANTS = {
    "base": {},
    "seed1": {"seed": 1},  # the same experiment, another seed: one leaderboard row with "base"
    "wider": {"optim": {"name": "adamw", "lr": 3e-2}, "model": {"name": "lstm", "hidden_size": 12}},
    "diverges": {"optim": {"name": "sgd", "lr": 1e30}},  # NaN in its first epoch: DivergenceError, nothing saved
}
FOLDERS = ("a", "b")
TIMING = {"seconds", "samples_per_s"}
REFS_DIR = Path(tempfile.mkdtemp(prefix="milestones-life-refs-"))
atexit.register(shutil.rmtree, REFS_DIR, ignore_errors=True)
REFERENCES: dict[tuple[str, bool], dict] = {}  # (variant, stop) -> the uninterrupted run's numbers, over examples
BY_HASH: dict[str, dict] = {}  # config hash -> the same
STATS: Counter = Counter()  # what the steps did, over all examples (scripts and reports read it)


def variant_config(variant: str) -> dict:
    cfg = {k: (dict(v) if isinstance(v, dict) else v) for k, v in BASE.items()}
    for k, v in VARIANTS[variant].items():
        cfg[k] = {**cfg[k], **v} if isinstance(v, dict) else v
    return cfg


def overrides(folder: str, stop: bool, output_dir: Path) -> list[str]:
    return [f"name={folder}", f"output_dir={output_dir}"] + (["trainer.stop_epoch=1"] if stop else [])


def numbers(results: dict) -> dict:
    """What a run's results.json says it measured: every test number, the epochs, the parameters, the config."""
    return {k: v for k, v in results.items() if k.startswith("test_") or k in ("epochs", "params", "config_hash")}


def history(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in TIMING} for row in rows]


def read_metrics(run_dir: Path) -> Optional[list[dict]]:
    """metrics.jsonl's rows, or None if a line is not whole (a kill mid-write)."""
    try:
        return history([json.loads(l) for l in (run_dir / METRICS_FILE).read_text().splitlines() if l.strip()])
    except ValueError:
        return None


def reference(variant: str, stop: bool, config_file: Path) -> dict:
    """The numbers of `variant` (with trainer.stop_epoch=1 if `stop`) trained alone, uninterrupted."""
    key = (variant, stop)
    if key not in REFERENCES:
        cfg = load_config(config_file, overrides(f"{variant}{'_stop' if stop else ''}", stop, REFS_DIR))
        ref = {"hash": cfg.hash(), "experiment": experiment_key(cfg), "last_epoch": 1 if stop else 2}
        if variant != "diverges":
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                assert main(["train", str(config_file), "--overwrite",
                             *[a for o in overrides(cfg.name, stop, REFS_DIR) for a in ("--set", o)]]) == 0
            run = REFS_DIR / cfg.name
            ref.update(numbers=numbers(json.loads((run / RESULTS_FILE).read_text())), history=read_metrics(run))
        REFERENCES[key] = BY_HASH[ref["hash"]] = {**ref, "variant": variant, "stop": stop}
    return REFERENCES[key]


def snapshot(run_dir: Path) -> dict[str, str]:
    """Every file below `run_dir` with the SHA-256 of its bytes; but the lock, the write probe and the temporary
    files of a killed process (which the next run to open the folder deletes, refused or not)."""
    if not run_dir.is_dir():
        return {}
    return {str(p.relative_to(run_dir)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(run_dir.rglob("*"))
            if p.is_file() and p.name != ".lock" and not re.match(r"\.write_test|\..*\.tmp\d+$", p.name)}


def resume_point(run_dir: Path) -> Optional[dict]:
    """The checkpoint `--resume` continues from: checkpoint.pt, else checkpoint.prev.pt (None: neither loads)."""
    for path in (run_dir / CHECKPOINT, previous_checkpoint(run_dir / CHECKPOINT)):
        try:
            return read_checkpoint(path)
        except CheckpointError:
            continue
    return None


class RunLife(RuleBasedStateMachine):
    """Two run folders under one output folder, driven by train / kill / overwrite / resume / compare."""

    def __init__(self):
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="milestones-life-"))
        self.runs = self.root / "runs"
        self.runs.mkdir()
        self.configs = {}
        for variant in VARIANTS:
            path = self.root / f"{variant}.yaml"
            path.write_text(yaml.safe_dump(variant_config(variant)))
            self.configs[variant] = path
        self.finished: dict[str, tuple[str, str]] = {}  # folder -> (config hash, run id) of the last run that finished
        # finished runs whose continuation under a changed config (trainer.stop_epoch) was killed: their results.json
        # stands beside the new config.yaml until the continuation finishes, and compare leaves them out with a warning
        self.continued: set[str] = set()
        self.changed = False  # whether a step has changed a folder since the last compare

    def teardown(self):
        shutil.rmtree(self.root, ignore_errors=True)

    # --- the steps ---------------------------------------------------------------------------------------------------

    def step(self, folder: str, variant: str, stop: bool, flags: list[str], kill_at: Optional[int]) -> None:
        ref = reference(variant, stop, self.configs[variant])
        run_dir = self.runs / folder
        line = ["train", str(self.configs[variant]), *flags,
                *[a for o in overrides(folder, stop, self.runs) for a in ("--set", o)]]
        said = f"milestones {' '.join(['train', variant + '.yaml', *flags])} in {folder}" + \
            (" stop_epoch=1" if stop else "")
        expected, resumed_from = self.expect(run_dir, variant, stop, flags, ref)
        before = snapshot(run_dir)
        self.changed = True
        out, err = io.StringIO(), io.StringIO()
        d = Dying(self.root, kill_at)
        try:
            with dying(d), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(line)
        except Killed:
            note(f"{said}: killed at operation {kill_at}, {d.where}")
            STATS["killed"] += 1
            STATS[f"killed at: {re.sub(r'tmp[0-9]+', 'tmp', d.where)}"] += 1
            if resumed_from is not None and ref["hash"] != resumed_from["config_hash"]:
                self.continued.add(resumed_from.get("run_id"))
            return
        message = err.getvalue().strip()
        note(f"{said}: exit {code}" + (f" ({message})" if code else "") +
             (", not killed" if kill_at is not None else ""))
        STATS[expected + (" (resumed)" if resumed_from is not None else "")] += 1
        if expected.startswith("refused"):
            assert code == 2 and len(message.splitlines()) == 1 and message.startswith("milestones: error:"), message
            assert expected.split(": ", 1)[1] in message, (expected, message)
            assert snapshot(run_dir) == before, "a refused step changed the run folder"
            return
        if expected == "diverges":
            assert code == 2 and len(message.splitlines()) == 1 and "loss became" in message, message
            return
        assert code == 0, message
        results = json.loads((run_dir / RESULTS_FILE).read_text())
        assert numbers(results) == ref["numbers"], "a finished run's numbers differ from its config's reference"
        assert read_metrics(run_dir) == ref["history"], "a finished run's history differs from its config's reference"
        if resumed_from is not None:
            assert results["run_id"] == resumed_from["run_id"], "a resumed run changed its id"
        else:
            assert results["run_id"] not in {r for _, r in self.finished.values()}, "a new run reused a run id"
        self.finished[folder] = (ref["hash"], results["run_id"])
        self.continued.discard(results["run_id"])  # its continuation finished: its folder is whole again

    def expect(self, run_dir: Path, variant: str, stop: bool, flags: list[str],
               ref: dict) -> tuple[str, Optional[dict]]:
        """What the step must do, from the folder's state before it: "refused: <words of its message>",
        "diverges" or "finishes"; and the checkpoint it resumes from (None: it starts from scratch)."""
        resume = "--resume" in flags and (flags[-1] != "auto" or has_checkpoint(run_dir))
        if not resume:
            if "--overwrite" not in flags and has_checkpoint(run_dir):
                return "refused: already holds a run", None
            return ("diverges" if variant == "diverges" else "finishes"), None
        ckpt = resume_point(run_dir)
        if ckpt is None:
            return "refused: nothing to resume", None
        if BY_HASH[ckpt["config_hash"]]["variant"] != variant:
            return "refused: made with a different config", None
        if ckpt["epoch"] > ref["last_epoch"]:
            return "refused: past epoch 1 where this config ends", None
        return "finishes", ckpt

    RUN = dict(folder=st.sampled_from(FOLDERS), variant=st.sampled_from(["base", "base", "seed1", "wider", "wider",
                                                                         "diverges"]), stop=st.booleans(),
               survives=st.booleans(), at=st.integers(min_value=1, max_value=29))

    @initialize(variant=st.sampled_from(["base", "seed1", "wider"]))
    def a_finished_run(self, variant):
        """Folder a starts with a finished run: most of what can go wrong happens to a folder that holds one."""
        self.step("a", variant, False, [], None)

    @rule(**RUN)
    def train(self, folder, variant, stop, survives, at):
        """`milestones train`; unless it `survives`, killed at its `at`-th file operation (a new run makes 15 to
        30). (Killed when False: the value hypothesis tries first.)"""
        self.step(folder, variant, stop, [], None if survives else at)

    @rule(**RUN)
    def overwrite(self, folder, variant, stop, survives, at):
        self.step(folder, variant, stop, ["--overwrite"], None if survives else at)

    @rule(**RUN, auto=st.booleans(), its_own=st.booleans())
    def resume(self, folder, variant, stop, survives, at, auto, its_own):
        """--resume (or --resume auto), half the time with the config of the checkpoint it would resume; unless it
        `survives`, killed at its `at` % 10-th file operation (a resumed run makes about 10, a new one more)."""
        flags = ["--resume", "auto"] if auto else ["--resume"]
        from_scratch = auto and not has_checkpoint(self.runs / folder)
        self.step(folder, self.resumable(folder, variant, its_own), stop, flags,
                  None if survives else at if from_scratch else at % 10)

    def resumable(self, folder: str, variant: str, its_own: bool) -> str:
        """The variant of the checkpoint --resume would continue in `folder` if `its_own` (and there is one), else
        `variant`."""
        ckpt = resume_point(self.runs / folder) if its_own else None
        return BY_HASH[ckpt["config_hash"]]["variant"] if ckpt is not None else variant

    @precondition(lambda self: self.changed)
    @rule()
    def compare(self):
        """`milestones compare`: exit 0 with a leaderboard.csv of exactly the expected rows, or exit 2 with no run."""
        self.changed = False
        out = self.root / "board"
        shutil.rmtree(out, ignore_errors=True)
        err = io.StringIO()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            code = main(["compare", "--runs", str(self.runs), "--output", str(out)])
        shown = {r.path.name: r.config.hash() for r in find_runs(self.runs)[0]} if code == 0 else {}
        note(f"milestones compare: exit {code}")
        STATS["compare"] += 1
        if not self.board()[0] and code:
            assert code == 2 and "no finished runs" in err.getvalue(), err.getvalue()
            return
        assert code == 0, err.getvalue()
        with open(out / "leaderboard.csv", newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        by_experiment: dict[str, list[float]] = {}
        for config_hash in shown.values():
            ref = BY_HASH[config_hash]
            by_experiment.setdefault(ref["experiment"], []).append(100 * ref["numbers"]["test_acc"])
        got = {r["config"]: (float(r["mean"]), int(r["seeds"])) for r in rows}
        want = {k: (round(sum(v) / len(v), 4), len(v)) for k, v in by_experiment.items()}
        assert got == want, f"leaderboard.csv {got}, expected {want}"

    def board(self) -> tuple[dict[str, str], set[str]]:
        """({folder: config hash} of the runs the leaderboard must show, {folders it may leave out with a warning}):
        each folder's last finished run, where it is still the folder's current run (not moved to .previous/ by a
        later run); left out only while a killed continuation of it under a changed config has rewritten config.yaml
        (compare says "written under another config.yaml ... finish it (--resume)")."""
        show, may_hide = {}, set()
        for folder, (config_hash, run_id) in self.finished.items():
            run_dir = self.runs / folder
            try:
                results = json.loads((run_dir / RESULTS_FILE).read_text())
            except (OSError, ValueError):
                continue  # moved aside (checked by no_step_loses_a_finished_run)
            if results.get("run_id") != run_id:
                continue
            if run_id in self.continued:
                may_hide.add(folder)
            else:
                show[folder] = config_hash
        return show, may_hide

    # --- the invariants ----------------------------------------------------------------------------------------------

    @invariant()
    def every_number_on_the_board_is_its_configs(self):
        try:
            found, unreadable = find_runs(self.runs)
        except MilestonesError as e:
            assert "no finished runs inside" in str(e), str(e)
            found, unreadable = [], [str(e)] if "cannot be read" in str(e) else []
        for r in found:
            ref = BY_HASH[r.config.hash()]
            assert numbers(r.results) == ref["numbers"], f"{r.path}: a number its config's run did not produce"
        show, may_hide = self.board()
        shown = {r.path.name: r.config.hash() for r in found if r.path.name not in may_hide}
        assert shown == show, f"the board shows {shown}; the finished runs are {show}"
        left_out = [why for why in unreadable if not any(f"/{f}/{RESULTS_FILE}: written under another config.yaml"
                                                         in why for f in may_hide)]
        assert not left_out, f"folders left out of the board: {left_out}"

    @invariant()
    def each_folder_holds_one_run(self):
        for folder in FOLDERS:
            for run_dir in (self.runs / folder, self.runs / folder / PREVIOUS_DIR):
                if run_dir.is_dir():
                    self.check_one_run(run_dir)

    def check_one_run(self, run_dir: Path) -> None:
        results_file = run_dir / RESULTS_FILE
        if results_file.exists():  # a finished run: everything in the folder is its
            results = json.loads(results_file.read_text())  # never half a file
            ref = BY_HASH[results["config_hash"]]
            assert numbers(results) == ref["numbers"], f"{run_dir}: results.json holds another config's numbers"
            if results["run_id"] in self.continued:  # being continued: its checkpoint and logs are the continuation's
                ckpt = resume_point(run_dir)
                assert ckpt is not None and ckpt.get("run_id") == results["run_id"], \
                    f"{run_dir}: the checkpoint is another run's"
                return
            ckpt = read_checkpoint(run_dir / CHECKPOINT)  # a finished run keeps its checkpoint
            assert hashlib.sha256((run_dir / CONFIG_FILE).read_bytes()).hexdigest() == results["config_sha256"], \
                f"{run_dir}: config.yaml is not the one its results were written under"
            assert read_metrics(run_dir) == ref["history"], f"{run_dir}: metrics.jsonl is not its run's history"
            # the same run, at the epoch tested; its config may differ in trainer.stop_epoch (a stopped run resumed
            # under another stop, with no epoch left to train, is tested and recorded under the new config)
            assert (ckpt.get("run_id"), BY_HASH[ckpt["config_hash"]]["variant"], ckpt["epoch"]) == \
                (results["run_id"], ref["variant"], results["epochs"]), f"{run_dir}: the checkpoint is another run's"
            return
        ckpt = resume_point(run_dir)  # an unfinished run: its checkpoint and metrics are a prefix of one run
        if ckpt is not None:
            ref = BY_HASH[ckpt["config_hash"]]
            assert history(ckpt["history"]) == ref["history"][: ckpt["epoch"]], f"{run_dir}: a checkpoint no run made"
            rows = read_metrics(run_dir) if (run_dir / METRICS_FILE).exists() else []
            if rows is not None:
                assert rows == ref["history"][: len(rows)], \
                    f"{run_dir}: metrics.jsonl of another run than its checkpoint"

    @invariant()
    def no_step_loses_a_finished_run(self):
        """The last run that finished in a folder keeps its results.json and its final checkpoint somewhere in the
        folder (itself, .previous/, or on their way there) until another run finishes in it."""
        for folder, (config_hash, run_id) in self.finished.items():
            tree, last_epoch = self.runs / folder, BY_HASH[config_hash]["last_epoch"]
            results = [p for p in tree.rglob(RESULTS_FILE) if _json(p).get("run_id") == run_id]
            if run_id in self.continued:  # its last checkpoint is replaced by the continuation's, as asked
                checkpoints = [p for p in tree.rglob("checkpoint*.pt") if _checkpoint(p).get("run_id") == run_id]
            else:
                checkpoints = [p for p in tree.rglob(CHECKPOINT) if _checkpoint(p).get("run_id") == run_id
                               and _checkpoint(p).get("epoch") == last_epoch]
            assert results and checkpoints, f"the run that finished last in {folder} ({config_hash}, run {run_id}) " \
                                            f"is gone: {'its checkpoint' if results else 'its results.json'} is nowhere"


def _json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _checkpoint(path: Path) -> dict:
    try:
        return read_checkpoint(path)
    except CheckpointError:
        return {}


RunLife.TestCase.settings = settings(
    max_examples=SCALE or 12, stateful_step_count=10, deadline=None, derandomize=SCALE is None, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    phases=[Phase.explicit, Phase.generate] + ([Phase.shrink] if os.environ.get("MILESTONES_FUZZ_SHRINK") else []),
    print_blob=True)


@pytest.mark.usefixtures("one_thread")
class TestRunLife(RunLife.TestCase):
    pass
