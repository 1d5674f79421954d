import json
import os
import subprocess
import sys

from conftest import REPO
from milestones.config import config_from_dict
from milestones.experiments import epochs_for_budget, markdown_table, run, with_overrides
from milestones.plots import plot_error_curves, plot_lines


def test_with_overrides_copies_and_leaves_the_original(tiny_config):
    cfg = config_from_dict(tiny_config)
    other = with_overrides(cfg, name="other", trainer={"epochs": 7}, data={"train_size": 64})
    assert (other.name, other.trainer.epochs, other.data.train_size) == ("other", 7, 64)
    assert (cfg.name, cfg.trainer.epochs, cfg.data.train_size) == ("tiny", 2, 512)


def test_budget_gives_whole_epochs_from_a_measured_rate(tiny_config):
    cfg = config_from_dict(tiny_config)
    epochs, rate = epochs_for_budget(cfg, minutes=0.05, train_images=512)
    assert rate > 100  # samples/s of a tiny MLP; far more on any machine
    assert epochs == max(1, int(0.05 * 60 * rate / 512))
    assert epochs_for_budget(cfg, minutes=1e-6, train_images=512)[0] == 1  # never zero


def test_run_returns_history_and_plots_are_written(tiny_config, tmp_path):
    r = run(config_from_dict(tiny_config))
    assert [h["epoch"] for h in r["history"]] == [1, 2] and 0 <= r["test_acc"] <= 1
    plot_error_curves({"panel": {"tiny": r["history"]}}, tmp_path / "curves.png", title="t")
    plot_lines({"tiny": [(1, 2.0), (2, 3.0)]}, tmp_path / "lines.png", xlabel="x", ylabel="y", title="t")
    for name in ("curves.png", "lines.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert markdown_table(["a", "b"], [[1, 2]]) == "| a | b |\n|---|---|\n| 1 | 2 |\n"


def test_the_degradation_script_trains_the_four_nets_and_redraws_its_report(tmp_path):
    """scripts/exp_degradation.py with the paper's recipe (a held-out split, a step schedule) shrunk to seconds:
    the table, the setup in results.json, the Fig. 6 plot; --report-only draws them again without training."""
    def script(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "scripts/exp_degradation.py", "--output-dir", str(tmp_path), *args],
                              cwd=REPO, capture_output=True, text=True, timeout=300,
                              env={**os.environ, "OMP_NUM_THREADS": "1"})

    r = script("--config", "configs/resnet20_cifar10_gpu.yaml", "--epochs", "1", "--train-size", "128",
               *(f"--set={o}" for o in ("data.val_size=64", "data.test_size=128", "trainer.batch_size=64",
                                        "trainer.eval_batch_size=128", "trainer.progress=false",
                                        "trainer.device=cpu", "schedule.milestones=[0.5]")))
    assert r.returncode == 0, r.stderr[-2000:]
    out = tmp_path / "degradation"
    table = (out / "table.md").read_text()
    assert all(f"| {net} |" in table for net in ("plain20", "plain56", "resnet20", "resnet56"))
    assert "1 epochs on 128 CIFAR-10 training images, multistep (x0.1 after epochs [0.5]) lr" in table
    saved = json.loads((out / "results.json").read_text())
    assert saved["setup"]["images"] == 128 and "val_acc" in saved["runs"]["resnet56"]["history"][0]
    (out / "degradation.png").unlink()
    r = script("--report-only")
    assert r.returncode == 0, r.stderr[-2000:]
    assert (out / "table.md").read_text() == table and (out / "degradation.png").read_bytes()[:4] == b"\x89PNG"
    # --nets trains a subset (the residual pair at a longer schedule): its report covers what is there
    saved["runs"] = {n: saved["runs"][n] for n in ("resnet20", "resnet56")}
    (out / "results.json").write_text(json.dumps(saved))
    r = script("--report-only")
    assert r.returncode == 0, r.stderr[-2000:]
    table = (out / "table.md").read_text()
    assert "| plain20 |" not in table and "| resnet56 |" in table and "ResNet-56 train error" in table
    assert "degradation" not in table.split("\n\n")[1]  # no verdict on the plain pair it did not train
