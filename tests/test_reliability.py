"""Crash safety: SIGKILL and resume, damaged checkpoints, interrupted writes, checkpoints crafted to run code."""

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch
import yaml

from conftest import REPO, flip_a_weight_byte
from milestones import fit, read_checkpoint
from milestones.__main__ import main
from milestones.config import config_from_dict
from milestones.configfile import save_config
from milestones.errors import BusyError, CheckpointError, ConfigError, DivergenceError
from milestones.checkpoint import CHECKPOINT, PREVIOUS_DIR, previous_checkpoint, retire_run, save_checkpoint


def test_sigkill_at_random_moments_then_resume_is_bitwise_equal(tmp_path, data_root):
    """Two trials of scripts/maintenance/fault_injection.py (RESULTS.md reports the 10-trial run)."""
    r = subprocess.run([sys.executable, "scripts/maintenance/fault_injection.py", "--trials", "2", "--epochs", "3",
                        "--train-size", "8000", "--output-dir", str(tmp_path), "--data-root", str(data_root)],
                       cwd=REPO, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    summary = json.loads((tmp_path / "fault_injection" / "results.json").read_text())
    assert summary["trials"] == summary["equal"] == 2
    assert summary["killed"] >= 1, r.stdout  # at least one trial really was killed mid-run


def _history(run_dir):
    return [{k: v for k, v in json.loads(l).items() if k not in ("seconds", "samples_per_s")}
            for l in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("damage", ["flipped byte", "truncated", "empty", "missing"])
def test_damaged_checkpoint_is_detected_and_resume_falls_back_to_the_previous(tiny_config, damage):
    whole = config_from_dict({**tiny_config, "name": "whole", "trainer": {**tiny_config["trainer"], "epochs": 3}})
    fit(whole)
    cfg = config_from_dict({**tiny_config, "trainer": {**tiny_config["trainer"], "epochs": 3, "stop_epoch": 2}})
    fit(cfg)
    ckpt, prev = cfg.run_dir / CHECKPOINT, previous_checkpoint(cfg.run_dir / CHECKPOINT)
    assert read_checkpoint(ckpt)["epoch"] == 2 and read_checkpoint(prev)["epoch"] == 1
    if damage == "flipped byte":
        flip_a_weight_byte(ckpt)
        with pytest.raises(CheckpointError, match="corrupt checkpoint"):
            read_checkpoint(ckpt)
    elif damage == "truncated":
        ckpt.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 3])
    elif damage == "empty":
        ckpt.write_bytes(b"")
    else:  # the process died between keeping the old file and renaming the new one into place
        ckpt.unlink()
    resumed = config_from_dict({**tiny_config, "trainer": {**tiny_config["trainer"], "epochs": 3}})
    fit(resumed, resume=True)  # from epoch 1's checkpoint: epochs 2 and 3 run again
    assert _history(resumed.run_dir) == _history(whole.run_dir)
    a, b = read_checkpoint(whole.run_dir / CHECKPOINT)["model"], read_checkpoint(ckpt)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (cfg.run_dir / "checkpoint.corrupt.pt").is_file() == (damage != "missing")  # kept for inspection


def test_resume_with_both_checkpoints_damaged_is_one_clear_error(tiny_config):
    cfg = config_from_dict(tiny_config)
    fit(cfg)
    for p in (cfg.run_dir / CHECKPOINT, previous_checkpoint(cfg.run_dir / CHECKPOINT)):
        p.write_bytes(b"junk")
    with pytest.raises(CheckpointError, match=r"not a loadable .* checkpoint.prev.pt, is unusable too"):
        fit(cfg, resume=True)


def test_a_failed_write_leaves_the_last_good_checkpoint_untouched(tmp_path, monkeypatch):
    path = tmp_path / CHECKPOINT
    save_checkpoint({"model": {"w": torch.ones(3)}, "config": {}}, path, keep_previous=True)
    before = path.read_bytes()

    def disk_full(obj, f, *a, **k):
        f.write(b"half a checkpoint")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(OSError):
        save_checkpoint({"model": {"w": torch.zeros(3)}, "config": {}}, path, keep_previous=True)
    assert path.read_bytes() == before
    assert not previous_checkpoint(path).exists()  # the old one was not moved aside for a new one that never came
    assert [p.name for p in tmp_path.iterdir()] == [CHECKPOINT]  # no temporary file left behind


def test_overwrite_keeps_the_old_run_until_the_new_one_starts_then_moves_it_aside_whole(tiny_config):
    cfg = config_from_dict(tiny_config)
    fit(cfg)
    old, old_results = (cfg.run_dir / CHECKPOINT).read_bytes(), (cfg.run_dir / "results.json").read_bytes()
    stale = cfg.run_dir / f".{CHECKPOINT}.tmp99999"  # what a process killed mid-write leaves
    stale.write_bytes(b"partial")
    broken = config_from_dict({**tiny_config, "model": {"name": "mlp", "in_features": 3}})
    with pytest.raises(ConfigError):
        fit(broken, overwrite=True)  # fails before its first epoch...
    assert (cfg.run_dir / CHECKPOINT).read_bytes() == old  # ...and the finished run is still there
    one_epoch = config_from_dict({**tiny_config, "trainer": {**tiny_config["trainer"], "epochs": 1}})
    fit(one_epoch, overwrite=True)
    assert not stale.exists()
    assert read_checkpoint(cfg.run_dir / CHECKPOINT)["epoch"] == 1
    assert not previous_checkpoint(cfg.run_dir / CHECKPOINT).exists()  # the old run's epoch 2 is not a fallback
    kept = cfg.run_dir / PREVIOUS_DIR  # but it is not lost either
    assert (kept / CHECKPOINT).read_bytes() == old and (kept / "results.json").read_bytes() == old_results
    assert read_checkpoint(kept / previous_checkpoint(CHECKPOINT))["epoch"] == 1


def test_an_overwrite_that_diverges_leaves_no_number_of_the_run_it_replaced(tiny_config, tmp_path, capsys):
    """Issue #32: `--overwrite` of a finished run that then diverged left the new config.yaml beside the old
    results.json, and compare showed the old accuracy as the new config's."""
    cfg = config_from_dict(tiny_config)
    fit(cfg)
    old = json.loads((cfg.run_dir / "results.json").read_text())
    assert old["config_sha256"] and old["run_id"] == read_checkpoint(cfg.run_dir / CHECKPOINT)["run_id"]
    diverging = config_from_dict({**tiny_config, "optim": {"name": "sgd", "lr": 1e30}})
    with pytest.raises(DivergenceError):
        fit(diverging, overwrite=True)
    assert not (cfg.run_dir / "results.json").exists()
    assert json.loads((cfg.run_dir / PREVIOUS_DIR / "results.json").read_text()) == old  # moved aside, whole
    capsys.readouterr()
    assert main(["compare", "--runs", str(tmp_path / "runs")]) == 2  # the old run, kept aside, is no run of the board
    assert "no finished runs inside" in capsys.readouterr().err


def test_a_run_that_never_checkpointed_does_not_push_the_kept_run_out(tmp_path):
    """An --overwrite killed before its first epoch ended, relaunched with the same line: the run it replaced stays
    in .previous/; a folder holding results or a checkpoint is moved there whole, results.json first."""
    run = tmp_path / "run"
    (run / PREVIOUS_DIR).mkdir(parents=True)
    (run / PREVIOUS_DIR / "results.json").write_text('{"test_acc": 0.9}')
    (run / "config.yaml").write_text("seed: 1\n")
    (run / "metrics.jsonl").write_text("")
    assert retire_run(run) == [] and (run / PREVIOUS_DIR / "results.json").read_text() == '{"test_acc": 0.9}'
    (run / "results.json").write_text('{"test_acc": 0.5}')
    assert retire_run(run) == ["results.json", "metrics.jsonl", "config.yaml"]
    assert (run / PREVIOUS_DIR / "results.json").read_text() == '{"test_acc": 0.5}'
    assert sorted(p.name for p in run.iterdir()) == [PREVIOUS_DIR]


def test_results_beside_another_runs_config_are_left_out_with_one_warning(tiny_config, tmp_path, capsys):
    for seed in (0, 1):
        fit(config_from_dict({**tiny_config, "seed": seed, "name": f"tiny_seed{seed}"}))
    run = tmp_path / "runs" / "tiny_seed1"
    # what an overwrite killed before its first epoch left before run folders held one run: the new config beside
    # the old results
    save_config(config_from_dict({**tiny_config, "seed": 1, "name": "tiny_seed1", "optim": {"name": "sgd", "lr": 9.0}}),
                run / "config.yaml")
    capsys.readouterr()
    assert main(["compare", "--runs", str(tmp_path / "runs")]) == 0
    warnings = [l for l in capsys.readouterr().err.splitlines() if "warning" in l]
    assert len(warnings) == 1 and "tiny_seed1/results.json: written under another config.yaml" in warnings[0], warnings
    board = (tmp_path / "runs" / "compare" / "leaderboard.md").read_text()
    assert "| 1 |" in board  # seed 0 alone


# save_checkpoint saving epoch 3 over epoch 2's checkpoint (epoch 1's being checkpoint.prev.pt), killed at each of
# its steps: step -> (what the kill leaves in the run folder, the epoch --resume continues after)
CRASH_POINTS = {
    "writing the temporary file": (lambda d: (d / f".{CHECKPOINT}.tmp4242").write_bytes(b"half a checkpoint"), 2),
    "temporary file written": (lambda d: shutil.copy(d / CHECKPOINT, d / f".{CHECKPOINT}.tmp4242"), 2),
    "between the two renames": (lambda d: (shutil.copy(d / CHECKPOINT, d / f".{CHECKPOINT}.tmp4242"),
                                           os.replace(d / CHECKPOINT, previous_checkpoint(d / CHECKPOINT))), 2),
    "both renames done": (lambda d: None, 2),
    "moving a damaged checkpoint aside": (lambda d: os.replace(d / CHECKPOINT, d / "checkpoint.corrupt.pt"), 1),
}


@pytest.mark.parametrize("mode", ["--resume", "--resume auto"])
@pytest.mark.parametrize("point", list(CRASH_POINTS))
def test_resume_and_resume_auto_recover_from_every_crash_point_of_a_save(point, mode, tiny_config, tmp_path, capsys):
    """Issue #32: a crash between save_checkpoint's two renames left checkpoint.prev.pt alone; `--resume` recovered
    but `--resume auto` (torchrun's relaunch) exited 2 on every relaunch."""
    whole = {**tiny_config, "trainer": {**tiny_config["trainer"], "epochs": 3}}
    fit(config_from_dict({**whole, "trainer": {**whole["trainer"], "stop_epoch": 2}}))
    run = tmp_path / "runs" / "tiny"
    leave, resumed_after = CRASH_POINTS[point]
    leave(run)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(whole))
    capsys.readouterr()
    assert main(["train", str(path), *mode.split()]) == 0, capsys.readouterr().err
    assert f"resuming {run} after epoch {resumed_after}" in capsys.readouterr().out
    assert read_checkpoint(run / CHECKPOINT)["epoch"] == 3 and len(_history(run)) == 3
    assert not list(run.glob(f".{CHECKPOINT}.tmp*"))


class _RunsCode:
    """An object whose unpickling calls os.system: the classic malicious-pickle payload."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        import os

        return os.system, (self.command,)


def test_checkpoint_crafted_to_run_code_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"model": {}, "config": {}, "payload": _RunsCode(f"touch {marker}")}, evil)

    # the control: a plain torch.load (weights_only=False) of this file really does run the command...
    torch.load(evil, weights_only=False)
    assert marker.exists()
    marker.unlink()
    # ...and milestones' loader refuses it without running anything
    with pytest.raises(CheckpointError, match=r"evil.pt: refused: unpickling it would import and call .*system"):
        read_checkpoint(evil)
    assert not marker.exists()


HOLD_THE_FOLDER = """
import sys, time
from pathlib import Path
from milestones.checkpoint import open_run_folder
with open_run_folder(Path(sys.argv[1]), resume=False, overwrite=True):
    print("holding", flush=True)
    time.sleep(120)
"""


def test_one_writer_per_run_folder_and_a_killed_writer_leaves_no_stale_lock(tiny_config):
    cfg = config_from_dict(tiny_config)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_THE_FOLDER, str(cfg.run_dir)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        with pytest.raises(BusyError, match=rf"is being written by another run \(PID {holder.pid}\)"):
            fit(cfg, overwrite=True)
        assert not (cfg.run_dir / CHECKPOINT).exists()  # the refused run wrote nothing
    finally:
        holder.kill()
        holder.wait()
    fit(cfg)  # the killed holder's lock went with its process
    fit(cfg, overwrite=True)  # and fit lets go of the folder when it returns
    assert read_checkpoint(cfg.run_dir / CHECKPOINT)["epoch"] == cfg.trainer.epochs
