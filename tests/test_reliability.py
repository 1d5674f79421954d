"""Crash safety: SIGKILL and resume, damaged checkpoints, interrupted writes, checkpoints crafted to run code."""

import json
import subprocess
import sys

import pytest
import torch

from conftest import REPO, flip_a_weight_byte
from milestones import fit, read_checkpoint
from milestones.config import config_from_dict
from milestones.errors import BusyError, CheckpointError, ConfigError
from milestones.checkpoint import CHECKPOINT, previous_checkpoint, save_checkpoint


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


def test_overwrite_replaces_the_old_run_only_once_the_new_one_has_a_checkpoint(tiny_config):
    cfg = config_from_dict(tiny_config)
    fit(cfg)
    old = (cfg.run_dir / CHECKPOINT).read_bytes()
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
