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
