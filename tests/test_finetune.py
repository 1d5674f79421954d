"""Your own data and your own habits (issue #31): fine-tuning shipped weights on new classes, a class folder that
says what it holds, your own sentence pairs, and the Python API's small courtesies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from milestones.__main__ import main
from milestones.checkpoint import read_checkpoint
from milestones.configfile import load_config
from milestones.errors import WeightsError
from milestones.models import create_model, head_of, load_weights
from milestones.train import fit


def write_folder(root: Path, classes: tuple[str, ...] = ("cat", "dog", "fish"), per_class: int = 12) -> Path:
    """A class-folder tree of small PNGs, one flat colour (plus noise) per class; returns its root."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for c, cls in enumerate(classes):
        (root / cls).mkdir(parents=True)
        colour = np.array([200 if c % 3 == k else 40 for k in range(3)])
        for i in range(per_class):
            pixels = (colour + rng.integers(-30, 30, (40, 48, 3))).clip(0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / cls / f"{i}.png")
    return root


def test_create_model_with_other_classes_loads_all_but_a_fresh_head(capsys):
    shipped = load_weights("lenet5_mnist").state_dict()
    torch.manual_seed(0)
    model = create_model("lenet5", weights="mnist", num_classes=3)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and "every tensor loaded but the classifier head 'classifier.3'" in lines[0]
    head = head_of(model, "lenet5")
    assert head == "classifier.3" and model.classifier[3].out_features == 3
    state = model.state_dict()
    assert all(torch.equal(v, shipped[k]) for k, v in state.items() if not k.startswith(head + "."))
    torch.manual_seed(0)
    fresh = create_model("lenet5", num_classes=3).state_dict()  # the builder's own initialisation, same seed
    assert torch.equal(state[f"{head}.weight"], fresh[f"{head}.weight"])
    assert "classes" not in model.meta and model.meta["mean"] == [0.1307]  # the digits' names are not the new head's
    assert head_of(create_model("resnet20"), "resnet20") == "fc" and head_of(create_model("mlp"), "mlp") == "net.8"
    with pytest.raises(WeightsError, match="trained with in_channels=1, not 3"):
        create_model("lenet5", weights="mnist", num_classes=3, in_channels=3)
    with pytest.raises(WeightsError, match="num_classes must be an integer >= 1"):
        create_model("lenet5", weights="mnist", num_classes=0)
    with pytest.raises(WeightsError, match="takes no argument num_classes"):
        create_model("lstm", weights="DEFAULT", num_classes=3)


def test_freeze_trains_the_head_alone_and_keeps_batch_norm_statistics(tmp_path, capsys, one_thread):
    folder = write_folder(tmp_path / "photos")
    cfg = load_config("finetune_folder", [f"data.path={folder}", f"output_dir={tmp_path / 'runs'}",
                                          "trainer.epochs=1", "trainer.batch_size=8", "data.workers=0",
                                          "trainer.progress=false", "trainer.freeze=backbone"])
    fit(cfg)
    out = capsys.readouterr().out
    assert "trainer.freeze: training the classifier head 'fc' alone (195 of" in out
    trained = read_checkpoint(cfg.run_dir / "checkpoint.pt")["model"]
    shipped = load_weights("resnet20_cifar10").state_dict()
    body = [k for k in trained if not k.startswith("fc.")]
    assert any("running_mean" in k for k in body)
    assert all(torch.equal(trained[k].cpu(), shipped[k]) for k in body), "the frozen backbone moved"
    assert trained["fc.weight"].shape == (3, 64)


def test_a_folder_on_the_imagenet_recipe_needs_no_gpu_and_no_more_workers_than_cores(tmp_path):
    from milestones.runtime import usable_cores
    from milestones.tasks import TASKS, model_arguments

    folder = write_folder(tmp_path / "photos", per_class=3)
    cfg = load_config("resnet18_imagenet", ["data.name=folder", f"data.path={folder}", "data.workers=64"])
    assert cfg.trainer.device == "auto"  # the GPU where there is one, else this CPU
    loaders = TASKS["classification"].build_data(cfg, torch.device("cpu"))
    assert loaders.train.workers == min(64, usable_cores())  # torch warns past the cores
    assert model_arguments(cfg, loaders.meta)["num_classes"] == 3  # from the folder, not typed


def test_a_folder_config_needs_only_the_folder(tmp_path, capsys, one_thread):
    """`milestones train finetune_folder --set data.path=DIR`: classes, their number, image size and normalisation
    come from the folder and the weights; `predict` names the folder's classes."""
    folder = write_folder(tmp_path / "photos")
    cfg = load_config("finetune_folder", [f"data.path={folder}"])
    assert cfg.model.weights == "resnet20_cifar10" and cfg.trainer.device == "auto"
    assert cfg.data.image_size == 32 and cfg.data.mean == [0.4914, 0.4822, 0.4465]  # the weights' input
    runs = tmp_path / "runs"
    assert main(["train", "finetune_folder", "--set", f"data.path={folder}", f"output_dir={runs}",
                 "trainer.epochs=1", "data.workers=0", "trainer.progress=false"]) == 0
    ckpt = read_checkpoint(runs / "finetune_folder" / "checkpoint.pt")
    assert ckpt["data_meta"]["classes"] == ["cat", "dog", "fish"] and ckpt["model_args"]["num_classes"] == 3
    capsys.readouterr()
    assert main(["predict", "--checkpoint", str(runs / "finetune_folder" / "checkpoint.pt"),
                 str(folder / "dog" / "0.png"), "--top", "1"]) == 0
    assert capsys.readouterr().out.split(": ")[1].split()[0] in ("cat", "dog", "fish")


PAIRS = [("猫が好きです。", "i like cats ."), ("犬が好きです。", "i like dogs ."), ("私は学生です。", "i am a student ."),
         ("彼は背が高い。", "he is tall ."), ("今日は暑い。", "it is hot today ."), ("明日は雨です。", "it will rain tomorrow ."),
         ("これは本です。", "this is a book ."), ("あれはペンです。", "that is a pen ."), ("鰐は川にいる。", "the crocodile is in the river ."),
         ("彼女は医者です。", "she is a doctor .")]


def _pairs_config(tmp_path: Path, model: str, data: str) -> Path:
    path = tmp_path / "pairs.yaml"
    path.write_text(f"model: {model}\ndata: {data}\noptim: {{name: adamw, lr: 3.0e-4, betas: [0.9, 0.98]}}\n"
                    f"trainer: {{epochs: 10, batch_size: 4, progress: false}}\noutput_dir: {tmp_path / 'runs'}\n",
                    encoding="utf-8")
    return path


def test_a_translator_trains_on_two_text_files_of_your_own(tmp_path, one_thread):
    (tmp_path / "ja.txt").write_text("\n".join(s for s, _ in PAIRS) + "\n", encoding="utf-8")
    (tmp_path / "en.txt").write_text("\n".join(t for _, t in PAIRS) + "\n\n", encoding="utf-8")  # a trailing blank
    cfg = load_config(_pairs_config(tmp_path, "{name: transformer, d_model: 32, heads: 2, d_ff: 64, encoder_layers: 1, "
                                              "decoder_layers: 1, dropout: 0.0}",
                                    f"{{name: pairs, source_file: {tmp_path / 'ja.txt'}, target_file: "
                                    f"{tmp_path / 'en.txt'}, languages: [ja, en], min_freq: 1}}"), ["trainer.epochs=2"])
    assert cfg.task == "seq2seq"
    results = fit(cfg)
    assert "test_bleu" in results
    meta = read_checkpoint(cfg.run_dir / "checkpoint.pt")["data_meta"]
    assert meta["src_lang"] == "ja" and "猫" in meta["src_vocab"] and meta["tokenizer"].startswith("html-unescape")
    from milestones.data.pairs import load_pairs_data
    again = load_pairs_data(path=None, source_file=str(tmp_path / "ja.txt"), target_file=str(tmp_path / "en.txt"),
                            languages=("ja", "en"), min_freq=1)
    assert (len(again.train.src), len(again.val.src), len(again.test.src)) == (8, 1, 1)  # the same split every time
    assert again.test.refs == read_pairs_split(cfg)


def read_pairs_split(cfg) -> list[list[str]]:
    from milestones.tasks.seq2seq import load_pairs
    return load_pairs(cfg).test.refs


def test_the_shipped_transformer_fine_tuned_on_ten_new_pairs_translates_one_of_them(tmp_path, capsys, one_thread):
    from milestones.translate import load_translator, load_translator_weights, translate

    (tmp_path / "pairs.tsv").write_text("".join(f"{s}\t{t}\n" for s, t in PAIRS), encoding="utf-8")
    shipped, meta = load_translator_weights("transformer_enja")
    before = translate(shipped, meta, "猫が好きです。")  # one string is one sentence, not seven
    assert len(before) == 1 and before[0].text != "i like cats."
    cfg = load_config(_pairs_config(tmp_path, "{name: transformer, weights: transformer_enja}",
                                    f"{{name: pairs, path: {tmp_path / 'pairs.tsv'}}}"))
    assert cfg.data.languages is None and cfg.model.weights == "transformer_enja"
    fit(cfg)
    out = capsys.readouterr().out
    assert "source tokens of the training pairs (1 distinct: 鰐) are not in the weights' vocabulary" in out
    assert "target tokens of the training pairs (1 distinct: crocodile)" in out
    model, tuned = load_translator(cfg.run_dir / "checkpoint.pt")
    assert tuned["src_vocab"] == meta["src_vocab"] and tuned["tgt_vocab"] == meta["tgt_vocab"]  # its vocabulary kept
    assert translate(model, tuned, "猫が好きです。")[0].text == "i like cats."


def test_zoo_show_prints_a_model_card_for_every_entry(capsys):
    from milestones.pretrained import list_weights

    assert main(["zoo", "show", "resnet20_cifar10"]) == 0
    card = capsys.readouterr().out
    for part in ("# resnet20_cifar10", "cifar10: CIFAR-10 (Krizhevsky 2009)", "87.12% (test_acc",
                 "`milestones train configs/resnet20_cifar10_cpu.yaml", "27 epochs, 36.6 min on", "**License**: MIT",
                 "**Intended use**", "**Limits**", "knows 10 classes", "(arXiv:1512.03385), Table 6: ResNet-20"):
        assert part in card, part
    for entry in list_weights():
        assert main(["zoo", "show", entry.name]) == 0
    assert "BSD 2-Clause" in (main(["zoo", "show", "resnet20_akamaster"]), capsys.readouterr().out)[1]
    assert main(["zoo", "show", "lenet_mnist"]) == 2 and "did you mean 'lenet5_mnist'" in capsys.readouterr().err
