import json
import os
import subprocess
import sys

import pytest
import yaml

from conftest import run_cli


def test_cli_trains_evaluates_and_resumes_end_to_end(tmp_path, tiny_config):
    tiny_config["trainer"]["epochs"] = 1
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(tiny_config))
    r = run_cli("train", str(cfg))
    assert r.returncode == 0, r.stderr
    run = tmp_path / "runs" / "tiny"
    results = json.loads((run / "results.json").read_text())
    assert results["epochs"] == 1 and results["test_acc"] > 0.2  # chance is 0.1
    assert yaml.safe_load((run / "config.yaml").read_text())["trainer"]["epochs"] == 1

    r = run_cli("train", str(cfg), "--resume", "--set", "trainer.epochs=2")
    assert r.returncode == 0, r.stderr
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 2
    assert "resuming" in r.stderr + r.stdout

    r = run_cli("eval", str(cfg), "--checkpoint", str(run / "checkpoint.pt"))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["test_acc"] == pytest.approx(
        json.loads((run / "results.json").read_text())["test_acc"])


@pytest.mark.parametrize("args, message", [
    (["train", "configs/mlp_mnist.yaml", "--set", "trainer.nonsense=1"], "unknown key 'trainer.nonsense'"),
    (["eval", "configs/mlp_mnist.yaml", "--checkpoint", "nope.pt"], "nope.pt: checkpoint not found"),
])
def test_cli_errors_are_one_line_exit_2(args, message):
    """In a real process (the full table of bad inputs, run in-process, is tests/test_bad_input.py)."""
    r = run_cli(*args)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("milestones: error:") and message in lines[0]
    assert "Traceback" not in r.stderr


def test_set_takes_several_overrides_at_once_and_repeats():
    from milestones.__main__ import _parser

    args = _parser().parse_args(["train", "c.yaml", "--set", "trainer.epochs=5", "optim.lr=1e-3", "--set", "seed=2"])
    assert args.config == "c.yaml" and args.overrides == ["trainer.epochs=5", "optim.lr=1e-3", "seed=2"]


def test_cli_list_shows_every_model():
    r = run_cli("list", "--json")
    assert r.returncode == 0
    rows = json.loads(r.stdout)
    assert {"name", "era", "year", "paper", "params"} <= set(rows[0])
    assert any(row["name"] == "mlp" for row in rows)


def test_importing_milestones_first_makes_openmp_spin_briefly_unless_told_otherwise():
    # libgomp reads GOMP_SPINCOUNT when torch loads it: the package sets it before importing torch (see __init__.py)
    probe = "import milestones, os; print(os.environ['GOMP_SPINCOUNT'])"
    env = {k: v for k, v in os.environ.items() if k != "GOMP_SPINCOUNT"}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "1000"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         env={**env, "GOMP_SPINCOUNT": "50000"}, check=True)
    assert out.stdout.strip() == "50000"


def test_a_reader_that_goes_away_ends_the_output_quietly():
    """`milestones zoo | head -1`: the pipe closes before the table is written; no traceback, exit code 141."""
    from conftest import REPO

    p = subprocess.Popen([sys.executable, "-m", "milestones", "zoo"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         cwd=REPO)
    p.stdout.close()  # before the package has even been imported: its first write finds no reader
    err = p.stderr.read().decode()
    assert p.wait(timeout=120) == 141 and "Traceback" not in err, err


# The commands that only list things answer without importing torch (~2 s of a ~2.3 s start-up before; their
# start-up times: scripts/bench/bench_cli_startup.py). `-X importtime` lists every module the process imported.
LISTING_COMMANDS = [["--help"], ["zoo"], ["zoo", "--json"], ["zoo", "list", "--markdown"], ["configs"],
                    ["configs", "--json"], ["list"], ["list", "--pretrained", "--json"]]


@pytest.mark.parametrize("args", LISTING_COMMANDS, ids=" ".join)
def test_the_listing_commands_import_no_torch(args):
    from conftest import REPO

    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "milestones", *args], capture_output=True,
                       text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")}
    assert "milestones.catalog" in imported or args == ["--help"]  # the probe sees the package's own imports
    assert not {m for m in imported if m == "torch" or m.startswith("torch.")}, "torch imported"


def test_import_milestones_imports_no_torch_until_the_api_needs_it():
    probe = """
import sys
import milestones
assert "torch" not in sys.modules, "import milestones"
from milestones import get_weights, list_models, list_weights, __version__
assert "torch" not in sys.modules, "the registry and the model list"
assert list_models("mlp")[0]["params"] == 1_863_690 and get_weights("resnet20_cifar10").model == "resnet20"
from milestones import create_model
assert "torch" in sys.modules
from milestones.models import create_model as direct
assert create_model is direct and milestones.create_model is direct
assert all(getattr(milestones, name) is not None for name in milestones.__all__)
assert set(milestones.__all__) <= set(dir(milestones))
try:
    milestones.no_such_name
except AttributeError as e:
    assert "no_such_name" in str(e)
else:
    raise AssertionError("no AttributeError")
"""
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    import milestones

    assert sorted(milestones.__all__) == sorted([
        "Config", "count_parameters", "create_model", "evaluate", "export_entry", "fit", "from_folder", "get_weights",
        "ImageTransform", "list_models", "list_weights", "load_checkpoint", "load_config", "load_weights",
        "read_checkpoint", "train_one_epoch", "weights_transforms", "__version__"])


def test_the_parsers_suite_names_are_the_suites():
    """`compare --suite` offers the suites by name without importing them (torch); the names must be theirs."""
    from milestones.__main__ import SUITE_NAMES
    from milestones.suites import SUITES

    assert SUITE_NAMES == list(SUITES)
