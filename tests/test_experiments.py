"""The tools of experiments that put runs side by side: config copies, equal budgets, tables, curves, and a
RESULTS.md experiment run as a suite (`milestones compare --suite degradation`)."""

import json

from milestones import suites
from milestones.checkpoint import read_history
from milestones.compare import compare
from milestones.config import config_from_dict
from milestones.configfile import with_overrides
from milestones.leaderboard import markdown_table, write_outputs
from milestones.plots import plot_error_curves, plot_lines
from milestones.timing import epochs_for_budget
from milestones.train import fit


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


def test_history_plots_and_a_scripts_report_are_written(tiny_config, tmp_path):
    cfg = config_from_dict(tiny_config)
    r = fit(cfg, overwrite=True)
    history = read_history(cfg.run_dir)
    assert [h["epoch"] for h in history] == [1, 2] and 0 <= r["test_acc"] <= 1
    plot_error_curves({"panel": {"tiny": history}}, tmp_path / "curves.png", title="t")
    plot_lines({"tiny": [(1, 2.0), (2, 3.0)]}, tmp_path / "lines.png", xlabel="x", ylabel="y", title="t")
    for name in ("curves.png", "lines.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = markdown_table(["a", "b"], [[1, 2]])
    assert table == "| a | b |\n|---|---|\n| 1 | 2 |\n"
    write_outputs(tmp_path, table, {"rows": [[1, 2]]}, "intro", command="python scripts/bench/x.py --n 1", show=False)
    assert (tmp_path / "table.md").read_text() == "intro\n\n" + table
    assert json.loads((tmp_path / "results.json").read_text()) == {"command": "python scripts/bench/x.py --n 1",
                                                                   "rows": [[1, 2]]}


def test_the_degradation_suite_trains_the_four_nets_and_draws_fig6(tmp_path, data_root, one_thread):
    """RESULTS.md's degradation experiment (He et al. Fig. 6: plain-20/56 and ResNet-20/56, one recipe) as the
    suite that replaced scripts/exp_degradation.py, shrunk to seconds: four runs, one leaderboard row each, the
    Fig. 6 plot, every run naming the command that made it."""
    runs = tmp_path / "runs"
    tiny = [f"data.root={data_root}", "data.download=false", "data.train_size=128", "data.test_size=128",
            "trainer.epochs=1", "trainer.batch_size=64", "trainer.eval_batch_size=128", "trainer.progress=false",
            "trainer.device=cpu", "trainer.precision=fp32", "trainer.channels_last=false"]
    assert suites.run_suite("degradation", 1, runs, tiny) == []
    names = ["plain20_cifar10_cpu_seed0", "plain56_cifar10_cpu_seed0", "resnet20_cifar10_cpu_seed0",
             "resnet56_cifar10_cpu_seed0"]
    for name in names:
        results = json.loads((runs / name / "results.json").read_text())
        assert results["command"] == "milestones compare --suite degradation --seeds 1"
    table, _, plots = compare(runs, tmp_path / "compare", "t")
    assert all(f"| {net} |" in table.read_text() for net in ("plain20", "plain56", "resnet20", "resnet56"))
    assert tmp_path / "compare" / "degradation.png" in plots
