"""The translation eras: data (tokenisation, vocabularies, bucketed batches), the three translators, decoding,
checkpoints that translate on their own, and the `milestones translate` CLI with its one-line errors.

Most tests use a six-pair corpus written to a temporary folder in small_parallel_enja's layout; the real
corpora are only read where they are found (tests marked by the `shared_root` fixture)."""

import dataclasses
import os
import sys
from pathlib import Path

import pytest
import torch
import yaml
from sacrebleu.metrics import BLEU

from conftest import REPO, run_cli
from milestones import create_model, fit, load_checkpoint
from milestones.__main__ import main
from milestones.config import config_from_dict
from milestones.data.text import (BOS, EOS, PAD, SPECIALS, Split, TranslationLoader, Vocab, detokenize,
                                  joined_split, load_translation_data, pad_batch, tokenize)
from milestones.errors import ConfigError, DataError, InputError
from milestones.configfile import with_overrides
from milestones.models import list_models
from milestones.checkpoint import CHECKPOINT, save_checkpoint
from milestones.decoding import beam_search, beam_search_batch, greedy_decode, select
from milestones.models.transformer import MultiHeadAttention
from milestones.tasks import TASKS
from milestones.tasks.seq2seq import (bigram_perplexity, bleu_by_length, corpus_bleu, decode_split, length_stress,
                                      seq2seq_step, shuffled_source_step)
from milestones.evaluation import evaluate_checkpoint
from milestones.translate import encode_sentences, load_translator, translate


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny batches: see conftest.one_thread


PAIRS = [  # (Japanese as the corpus writes it, KyTea-segmented; English, tokenised and lower-cased)
    ("彼 は 背 が 高 い 。", "he is tall ."),
    ("私 は 学生 で す 。", "i am a student ."),
    ("猫 が 好き で す 。", "i like cats ."),
    ("これ は 私 の 本 で す 。", "this is my book ."),
    ("彼女 は 先生 で す 。", "she is a teacher ."),
    ("今日 は 暑 い 。", "it is hot today ."),
]
TRANSLATORS = ["seq2seq", "rnnsearch", "transformer"]
TINY = {  # small enough for a few hundred steps in a second or two
    "seq2seq": dict(embed_dim=32, hidden_size=64, num_layers=1),
    "rnnsearch": dict(embed_dim=32, hidden_size=32, align_dim=32, maxout_dim=32),
    "transformer": dict(d_model=32, heads=2, d_ff=64, encoder_layers=1, decoder_layers=1, dropout=0.0),
}


def write_tiny_corpus(root: Path) -> Path:
    """PAIRS in small_parallel_enja's layout under `root` (dev: the first three, test: the last three); returns root."""
    folder = root / "small_parallel_enja"
    folder.mkdir(parents=True, exist_ok=True)
    for split, pairs in (("train", PAIRS), ("dev", PAIRS[:3]), ("test", PAIRS[3:])):
        (folder / f"{split}.ja").write_text("".join(j + "\n" for j, _ in pairs), encoding="utf-8")
        (folder / f"{split}.en").write_text("".join(e + "\n" for _, e in pairs), encoding="utf-8")
    return root


@pytest.fixture
def tiny_root(tmp_path) -> Path:
    return write_tiny_corpus(tmp_path / "data")


@pytest.fixture
def tiny(tiny_root):
    return load_translation_data("small_parallel_enja", root=str(tiny_root), min_freq=1)


def tiny_model(name: str, meta: dict) -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model(name, src_vocab_size=len(meta["src_vocab"]), tgt_vocab_size=len(meta["tgt_vocab"]),
                        **TINY[name])


def save_tiny_translator(name: str, meta: dict, path: Path) -> Path:
    """An untrained tiny translator written as a checkpoint that carries its vocabularies (no training run)."""
    cfg = config_from_dict({"task": "seq2seq", "model": {"name": name, **TINY[name]},
                            "data": {"name": "small_parallel_enja"}})
    save_checkpoint({"model": tiny_model(name, meta).state_dict(), "config": cfg.to_dict(), "model_name": name,
                     "data_meta": meta}, path)
    return path


def whole_batch(split: Split) -> tuple[torch.Tensor, torch.Tensor]:
    return pad_batch(split.src), pad_batch(split.tgt)


# --- tokenisation and vocabularies ---------------------------------------------------------------------------------

def test_japanese_is_characters_typed_with_or_without_spaces():
    assert tokenize("彼は背が高い。", "ja") == tokenize("彼 は 背 が 高 い 。", "ja") == list("彼は背が高い。")
    assert tokenize("ＣＤを２枚！", "ja") == tokenize("CDを2枚!", "ja") == ["c", "d", "を", "2", "枚", "!"]  # NFKC


def test_word_tokens_keep_the_files_tokens_and_split_typed_punctuation():
    line = "i can 't tell who will arrive first ."
    assert tokenize(line, "en") == line.split()  # the provided tokenised text is left as it is
    assert tokenize("a kid &apos;s table", "en") == ["a", "kid", "'s", "table"]  # Moses escapes undone
    assert tokenize('Zwei Männer, "draußen".', "de") == ["zwei", "männer", ",", '"', "draußen", '"', "."]
    assert detokenize(line.split(), "en") == "i can't tell who will arrive first."


def test_vocab_min_freq_specials_and_round_trip():
    v = Vocab.build([["b", "a", "b"], ["c", "b", "a"]], min_freq=2)
    assert v.itos == SPECIALS + ["b", "a"]  # most frequent first; "c" seen once is <unk>
    ids = v.encode(["a", "c", "b"])
    assert ids == [5, 1, 4]
    assert v.decode([BOS, *ids, EOS, 4]) == ["a", "<unk>", "b"]  # stops at <eos>


def test_tiny_corpus_data_and_meta_survive_torch_load(tiny, tmp_path):
    assert len(tiny.train.src) == 6 and len(tiny.val.src) == 3 and len(tiny.test.src) == 3
    src_vocab, tgt_vocab = Vocab(tiny.meta["src_vocab"]), Vocab(tiny.meta["tgt_vocab"])
    assert src_vocab.decode(tiny.train.src[0]) == list("彼は背が高い。") and tiny.train.src[0][-1] == EOS
    assert tiny.train.tgt[0][0] == BOS and tgt_vocab.decode(tiny.train.tgt[0]) == ["he", "is", "tall", "."]
    assert tiny.test.refs[0] == ["this", "is", "my", "book", "."]
    assert tiny.meta["max_src_len"] == len("これは私の本です。")
    torch.save({"meta": tiny.meta}, tmp_path / "m.pt")
    assert torch.load(tmp_path / "m.pt", weights_only=True)["meta"] == tiny.meta  # plain types only


def test_batches_are_bucketed_seeded_and_sharded_like_batch_loader():
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(1, 30, (300,), generator=g).tolist()
    split = Split([[7] * n + [EOS] for n in lengths], [[BOS] + [7] * (n // 2 + 1) + [EOS] for n in lengths],
                  [["w"] * n for n in lengths])
    loader = TranslationLoader(split, batch_size=16, shuffle=True, seed=1)
    loader.set_epoch(3)
    batches = list(loader)
    assert len(batches) == len(loader) == 19
    padded = sum(src.numel() for src, _ in batches)
    assert padded < 1.15 * sum(n + 1 for n in lengths)  # bucketing: little padding (random batches: ~1.8x)
    again = list(loader)
    assert all(torch.equal(a[0], b[0]) for a, b in zip(batches, again))  # (seed, epoch) alone decide the order
    loader.set_epoch(4)
    assert not all(torch.equal(a[0], b[0]) for a, b in zip(batches, loader))
    loader.set_epoch(3)
    shards = [TranslationLoader(split, batch_size=16, shuffle=True, seed=1, rank=r, world_size=2) for r in (0, 1)]
    for s in shards:
        s.set_epoch(3)
    for whole, a, b in zip(batches, *shards):
        assert len(a[0]) + len(b[0]) == len(whole[0])
        assert torch.equal(a[0], whole[0][0::2, :a[0].shape[1]])  # rank 0 keeps rows 0, 2, 4, ...
    assert len(TranslationLoader(split, batch_size=16, drop_last=True)) == 18


# --- the translators -----------------------------------------------------------------------------------------------

def test_sutskever_reverses_the_source_words_but_not_eos_or_padding():
    from milestones.models.seq2seq import reverse_source

    src = torch.tensor([[5, 6, 7, EOS, PAD], [8, 9, 10, 11, EOS]])
    assert reverse_source(src, (src != PAD).sum(1)).tolist() == [[7, 6, 5, EOS, PAD], [11, 10, 9, 8, EOS]]


@pytest.mark.parametrize("name", TRANSLATORS)
def test_translator_forward_backward_and_attention_shapes(name, tiny):
    model = tiny_model(name, tiny.meta)
    src, tgt = whole_batch(tiny.train)
    logits, attention = model(src, tgt[:, :-1])
    assert logits.shape == (6, tgt.shape[1] - 1, len(tiny.meta["tgt_vocab"]))
    if name == "seq2seq":
        assert attention is None and not model.has_attention
    else:
        assert attention.shape == (6, tgt.shape[1] - 1, src.shape[1])
        assert torch.allclose(attention.sum(-1), torch.ones(attention.shape[:2]), atol=1e-5)
        assert (attention.masked_select((src == PAD)[:, None, :].expand_as(attention)) == 0).all()
    logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("name", TRANSLATORS)
def test_a_few_steps_lower_the_loss(name, tiny):
    model = tiny_model(name, tiny.meta)
    batch = whole_batch(tiny.train)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = None
    for _ in range(15):
        out = seq2seq_step(model, batch, label_smoothing=0.1)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        first = first if first is not None else out.loss.item()
    assert out.loss.item() < 0.8 * first
    assert out.count == sum(len(t) - 1 for t in tiny.train.tgt)  # every real target token, no padding


@pytest.mark.parametrize("name", TRANSLATORS)
def test_tiny_model_overfits_and_greedy_decodes_the_pairs_back(name, tiny):
    model = tiny_model(name, tiny.meta)
    batch = whole_batch(tiny.train)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(400):  # until memorised: mean token loss below 0.01
        loss = seq2seq_step(model, batch).loss
        if loss.item() < 0.01:
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.01
    typed = [ja.replace(" ", "") for ja, _ in PAIRS]  # as a user types them: no spaces
    out = translate(model, tiny.meta, typed)
    assert [t.tokens for t in out] == [en.split() for _, en in PAIRS]
    assert out[0].text == "he is tall."
    beams = translate(model, tiny.meta, typed, beam=3)
    assert [t.tokens for t in beams] == [en.split() for _, en in PAIRS]
    # the test-set decoders (batched greedy, one-by-one beam) give the same sentences back
    assert decode_split(model, tiny.train, tiny.meta, batch_size=4) == tiny.train.refs
    assert decode_split(model, tiny.train, tiny.meta, beam=3) == tiny.train.refs


@pytest.mark.parametrize("name", TRANSLATORS)
def test_beam_search_with_beam_1_is_greedy(name, tiny):
    model = tiny_model(name, tiny.meta).eval()  # untrained: long, arbitrary outputs are the hard case
    for ids in tiny.train.src:
        src = torch.tensor([ids])
        greedy_ids, greedy_att = greedy_decode(model, src, max_len=12)[0]
        beam_ids, beam_att, _ = beam_search(model, src, beam=1, max_len=12)
        assert beam_ids == greedy_ids
        if greedy_att is not None:
            assert torch.allclose(beam_att, greedy_att, atol=1e-6)
        wide_ids, _, _ = beam_search(model, src, beam=4, max_len=12)
        assert 1 <= len(wide_ids) <= 12 and PAD not in wide_ids and BOS not in wide_ids


@pytest.mark.parametrize("name", TRANSLATORS)
def test_batched_beam_search_searches_each_sentence_as_alone(name, tiny):
    """Sources of different lengths, padded into one batch: each gets the hypothesis, score and attention (over
    its own source) that beam search gives it alone, and its own max_len."""
    model = tiny_model(name, tiny.meta).eval()  # untrained: long, arbitrary outputs are the hard case
    sources = sorted(tiny.train.src, key=len)[::-1]  # the longest first: every other row is padded
    assert len({len(s) for s in sources}) > 2
    batched = beam_search_batch(model, pad_batch(sources), beam=3)
    for src, (ids, att, score) in zip(sources, batched):
        alone_ids, alone_att, alone_score = beam_search(model, torch.tensor([src]), beam=3)
        assert ids == alone_ids and score == pytest.approx(alone_score, abs=1e-4)
        assert len(ids) <= 2 * len(src) + 10  # its own max_len, not the padded batch's
        if att is not None:
            assert att.shape == (len(ids), len(src)) and torch.allclose(att, alone_att, atol=1e-5)


@pytest.mark.parametrize("name", TRANSLATORS)
def test_translate_batches_sentences_each_as_if_alone(name, tiny):
    """`translate` decodes sentences of mixed lengths together (two batches here): each gets, in input order, the
    tokens, score and attention it gets alone, its greedy output cut at its own length limit."""
    model = tiny_model(name, tiny.meta).eval()  # untrained: long, arbitrary outputs are the hard case
    typed = [ja.replace(" ", "") for ja, _ in PAIRS][::-1]
    for beam in (1, 3):
        together = translate(model, tiny.meta, typed, beam=beam, batch_size=4)
        for sentence, t in zip(typed, together):
            (alone,) = translate(model, tiny.meta, [sentence], beam=beam)
            assert t.tokens == alone.tokens and t.source == alone.source
            assert t.score == pytest.approx(alone.score, abs=1e-4, nan_ok=True)
            assert len(t.tokens) <= 2 * (len(t.source) + 1) + 10
            if t.attention is not None:
                assert t.attention.shape == alone.attention.shape
                assert torch.allclose(t.attention, alone.attention, atol=1e-5)
    with pytest.raises(InputError, match="batch_size"):
        translate(model, tiny.meta, typed, batch_size=0)


def test_min_len_holds_eos_back(tiny):
    """min_len >= max_len decodes every sentence to max_len (the planner times that longest case); the default
    only keeps a translation from being empty."""
    model = tiny_model("seq2seq", tiny.meta).eval()
    with torch.no_grad():  # make <eos> the model's favourite word: by default every sentence ends after one word
        model.out.bias.zero_()[EOS] = 100.0
    src = pad_batch(tiny.train.src[:3])
    assert all(ids[1:] == [EOS] for ids, _ in greedy_decode(model, src, max_len=9))
    assert all(len(ids) == 9 and EOS not in ids for ids, _ in greedy_decode(model, src, max_len=9, min_len=9))
    ids, _, _ = beam_search(model, src[:1], beam=3, max_len=9, min_len=9)
    assert len(ids) == 9 and EOS not in ids


@pytest.mark.parametrize("name", TRANSLATORS)
def test_padding_changes_no_output(name, tiny):
    """A short pair alone, and padded inside a batch with longer pairs: the same logits and attention."""
    model = tiny_model(name, tiny.meta).eval()
    src, tgt = whole_batch(tiny.train)
    short = min(range(6), key=lambda i: len(tiny.train.src[i]) + len(tiny.train.tgt[i]))
    s_len, t_len = len(tiny.train.src[short]), len(tiny.train.tgt[short])
    assert s_len < src.shape[1] and t_len < tgt.shape[1]  # it is padded on both sides in the batch
    with torch.no_grad():
        batch_logits, batch_att = model(src, tgt[:, :-1])
        alone_logits, alone_att = model(src[short:short + 1, :s_len], tgt[short:short + 1, :t_len - 1])
    assert torch.allclose(batch_logits[short, :t_len - 1], alone_logits[0], atol=1e-5)
    if batch_att is not None:
        assert torch.allclose(batch_att[short, :t_len - 1, :s_len], alone_att[0], atol=1e-5)


def test_transformer_fused_attention_is_the_written_out_attention(tiny, monkeypatch):
    """The GPU path (F.scaled_dot_product_attention wherever the weights are not returned), forced on the CPU, gives
    the logits, the returned attention and the gradients of the written-out Eq. 1, padding and look-ahead masked."""
    torch.manual_seed(0)
    model = create_model("transformer", src_vocab_size=len(tiny.meta["src_vocab"]),
                         tgt_vocab_size=len(tiny.meta["tgt_vocab"]), d_model=32, heads=4, d_ff=64,
                         encoder_layers=2, decoder_layers=2, dropout=0.0)
    src, tgt = whole_batch(tiny.train)
    assert (src == PAD).any() and (tgt == PAD).any()
    runs = {}
    for fused in (False, True):
        for m in model.modules():  # the switch is each attention's own: set on every one of this model
            if isinstance(m, MultiHeadAttention):
                m.fused = fused
        model.zero_grad()
        logits, att = model(src, tgt[:, :-1])
        logits.float().pow(2).mean().backward()
        runs[fused] = logits, att, [p.grad.clone() for p in model.parameters()]
    (l0, a0, g0), (l1, a1, g1) = runs[False], runs[True]
    assert torch.allclose(l0, l1, atol=1e-5) and torch.allclose(a0, a1, atol=1e-6)
    assert all(torch.allclose(x, y, atol=1e-5) for x, y in zip(g0, g1))


def test_transformer_decode_step_from_its_cache_is_decode_over_the_whole_prefix(tiny):
    """Each cached step gives the logits and cross-attention that the decoder run over the whole prefix gives its
    last position, also after beam search reorders the cache's rows."""
    torch.manual_seed(0)
    model = create_model("transformer", src_vocab_size=len(tiny.meta["src_vocab"]),
                         tgt_vocab_size=len(tiny.meta["tgt_vocab"]), d_model=32, heads=4, d_ff=64,
                         encoder_layers=2, decoder_layers=3, dropout=0.0).eval()
    src = pad_batch(tiny.train.src[:4])
    memory = model.encode(src)
    state = model.init_state(memory)
    prefix = torch.full((4,), BOS)[:, None]  # (B, 1)
    with torch.no_grad():
        for t in range(7):
            logits, state, att = model.decode_step(prefix[:, -1], state, memory)
            whole_logits, whole_att = model.decode(prefix, memory)
            assert torch.allclose(logits, whole_logits[:, -1], atol=1e-5)
            assert torch.allclose(att, whole_att[:, -1], atol=1e-6)
            assert all(c.shape == (4, t + 1, 32) for c in state)
            rows = torch.tensor([t % 4, 0, 3, 1])  # beam search picks rows: the cache, prefix and memory follow
            state, memory = select(state, rows), select(memory, rows)
            prefix = torch.cat([prefix[rows], logits[rows].argmax(-1, keepdim=True)], dim=1)


def test_bleu_is_sacrebleu_on_the_tokenised_text():
    ref = "the cat sat on the mat .".split()
    assert corpus_bleu([ref, ref], [ref, ref])[0] == pytest.approx(100.0)
    score, signature = corpus_bleu([["a", "cat", "sat", "on", "mat", "."]], [ref])
    assert 0 < score < 100 and "tok:none" in signature
    # the signature says the text is lower-cased (it is, by tokenize), and saying so changes no score
    assert "case:lc" in signature
    plain = BLEU(tokenize="none", force=True).corpus_score(["a cat sat on mat ."], [[" ".join(ref)]]).score
    assert score == plain


def test_bleu_by_length_buckets_cover_every_sentence_in_length_order(tiny):

    split = tiny.train
    perfect = bleu_by_length([list(r) for r in split.refs], split, buckets=3)
    assert sum(b["sentences"] for b in perfect.values()) == len(split.src)
    assert all(b["bleu"] == pytest.approx(100.0) for b in perfect.values())
    ends = [b["max_len"] for b in perfect.values()]
    assert ends == sorted(ends) and min(b["min_len"] for b in perfect.values()) == min(len(r) for r in split.refs)
    empty = bleu_by_length([[] for _ in split.refs], split, buckets=3)
    assert all(b["bleu"] == 0.0 for b in empty.values())


def test_joined_split_concatenates_consecutive_pairs(tiny):
    split = tiny.train  # 6 pairs
    assert joined_split(split, 1) == split
    two = joined_split(split, 2)
    assert len(two.src) == 3 and two.refs[0] == split.refs[0] + split.refs[1]
    assert two.src[0] == split.src[0][:-1] + split.src[1][:-1] + [EOS]  # one <eos>, at the end
    assert two.tgt[1] == [BOS] + split.tgt[2][1:-1] + split.tgt[3][1:-1] + [EOS]
    assert len(joined_split(split, 4).src) == 1  # the incomplete last run is dropped


def test_length_stress_reports_bleu_per_join_and_by_length(tiny):
    model = tiny_model("transformer", tiny.meta)
    out = length_stress(model, tiny.train, tiny.meta, joins=3)
    assert list(out["by_join"]) == ["1", "2", "3"]
    lengths = [j["mean_src_len"] for j in out["by_join"].values()]
    assert lengths == sorted(lengths) and lengths[1] == pytest.approx(2 * lengths[0], rel=0.01)
    assert sum(b["sentences"] for b in out["by_length"].values()) == 6 + 3 + 2


def test_every_sequence_model_is_tested_here_or_in_test_sequence_eras():
    from milestones.models import MODELS

    eras = {"RNN 1997", "RNN+attention 2015", "Transformer 2017"}
    assert {n for n, info in MODELS.items() if info.era in eras} == {"lstm", "rnn", *TRANSLATORS}


def test_list_shows_the_sequence_eras_with_the_papers_sizes():
    rows = {r["name"]: r for r in list_models()}
    assert rows["seq2seq"]["params"] == 384_144_000  # Sutskever et al. 2014, Sec. 3.4: "384M parameters"
    assert rows["lstm"]["era"] == "RNN 1997" and rows["rnnsearch"]["era"] == "RNN+attention 2015"
    assert rows["transformer"]["era"] == "Transformer 2017" and rows["transformer"]["year"] == 2017


# --- training, checkpoints, the CLI --------------------------------------------------------------------------------

def translation_config(tmp_path, root, name="transformer", **model):
    return {
        "name": f"{name}_tiny", "task": "seq2seq", "output_dir": str(tmp_path / "runs"), "seed": 0,
        "model": {"name": name, **TINY[name], **model},
        "data": {"name": "small_parallel_enja", "root": str(root), "min_freq": 1},
        "optim": {"name": "adamw", "lr": 1e-2, "weight_decay": 0.0},
        "schedule": {"name": "inverse_sqrt", "warmup_epochs": 1},
        "trainer": {"epochs": 1, "batch_size": 3, "eval_batch_size": 4, "progress": False, "label_smoothing": 0.1},
    }


def test_vocab_sizes_reach_the_model_from_the_data(tmp_path, tiny_root, tiny):
    cfg = config_from_dict(translation_config(tmp_path, tiny_root))
    assert "src_vocab_size" not in cfg.model.args
    results = fit(cfg)
    assert results["test_bleu"] >= 0 and results["test_ppl"] > 1 and "tok:none" in results["bleu_signature"]
    model = load_checkpoint(cfg.run_dir / CHECKPOINT)  # rebuilt from the checkpoint's own vocabularies
    assert model.src_vocab_size == len(tiny.meta["src_vocab"]) and model.tgt_vocab_size == len(tiny.meta["tgt_vocab"])
    assert "test_bleu" in evaluate_checkpoint(cfg, cfg.run_dir / CHECKPOINT) and "test_bleu_beam" not in results
    beamed = evaluate_checkpoint(with_overrides(cfg, trainer={"beam": 3}), cfg.run_dir / CHECKPOINT)
    assert beamed["beam"] == {"size": 3, "alpha": 0.6} and 0 <= beamed["test_bleu_beam"] <= 100
    assert beamed["test_bleu"] == pytest.approx(results["test_bleu"])  # the greedy number is unchanged beside it
    wrong = translation_config(tmp_path, tiny_root, src_vocab_size=7)
    n_src = len(tiny.meta["src_vocab"])  # 24 characters + 4 specials
    with pytest.raises(ConfigError, match=f"model.src_vocab_size is 7 but the source vocabulary .* has {n_src} tokens"):
        fit(config_from_dict({**wrong, "name": "wrong"}))
    mlp = {**translation_config(tmp_path, tiny_root), "name": "mlp", "model": {"name": "mlp"}}
    with pytest.raises(ConfigError, match="model 'mlp' is not a translation model"):
        fit(config_from_dict(mlp))


def test_the_planner_counts_a_translators_decoding(tmp_path, tiny_root, monkeypatch):
    """A translator's final test decodes every test sentence (beam search one at a time): the planner's estimate
    of the run includes it, timed on a few sentences, and beam search adds to it."""
    from milestones.timing import timed_batches
    from milestones.planner import lone_seconds

    cfg = config_from_dict(translation_config(tmp_path, tiny_root, name="seq2seq"))
    beamed = with_overrides(cfg, trainer={"beam": 3})
    assert timed_batches(cfg, 2).report_seconds == 0.0  # only when asked
    greedy_s, beam_s = (timed_batches(c, 2, report=True).report_seconds for c in (cfg, beamed))
    assert 0 < greedy_s < beam_s
    slow = dataclasses.replace(TASKS["seq2seq"], report_seconds=lambda model, loaders, cfg: 1000.0)
    monkeypatch.setitem(TASKS, "seq2seq", slow)
    assert 1000 < lone_seconds(cfg) < 1100


def test_checkpoint_translates_on_its_own_through_the_cli(tmp_path, tiny_root):
    cfg_path = tmp_path / "tiny.yaml"
    cfg_path.write_text(yaml.safe_dump(translation_config(tmp_path, tiny_root)), encoding="utf-8")
    r = run_cli("train", str(cfg_path))
    assert r.returncode == 0, r.stderr
    ckpt = tmp_path / "runs" / "transformer_tiny" / CHECKPOINT
    png = tmp_path / "attention.png"
    # the data folder is gone: the checkpoint alone must carry the vocabularies
    r = run_cli("translate", "--checkpoint", str(ckpt), "彼は背が高い。", "--beam", "2", "--attention", str(png),
                env={"MILESTONES_DATA": str(tmp_path / "nowhere")})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].strip()
    assert png.is_file() and png.stat().st_size > 0
    r = run_cli("translate", "--checkpoint", str(ckpt), " ")
    assert r.returncode == 2 and r.stderr.strip() == "milestones: error: sentence 1 is empty"


@pytest.fixture
def checkpoints(tmp_path, tiny) -> dict:
    """Checkpoints written directly (no training): a transformer, a seq2seq and an image classifier."""
    paths = {name: save_tiny_translator(name, tiny.meta, tmp_path / f"{name}.pt") for name in ("transformer", "seq2seq")}
    cfg = config_from_dict({"model": {"name": "mlp", "in_features": 4, "hidden": [3]}})
    paths["mlp"] = tmp_path / "mlp.pt"
    save_checkpoint({"model": create_model("mlp", in_features=4, hidden=(3,)).state_dict(), "config": cfg.to_dict(),
                     "model_name": "mlp", "data_meta": {"classes": list("0123456789")}}, paths["mlp"])
    (tmp_path / "blank.txt").write_text("\n\n")
    return paths


# The translate command's bad inputs (empty sentence, unknown words, too long, no matplotlib, ...) are cases of
# tests/test_bad_input.py.


def test_sentences_from_a_file_and_from_stdin(checkpoints, tmp_path, capsys, monkeypatch):
    import io

    (tmp_path / "in.txt").write_text("彼は背が高い。\n\n猫が好きです。\n", encoding="utf-8")
    assert main(["translate", "--checkpoint", str(checkpoints["transformer"]), "--file", str(tmp_path / "in.txt")]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
    monkeypatch.setattr(sys, "stdin", io.StringIO("彼は背が高い。\n"))
    assert main(["translate", "--checkpoint", str(checkpoints["seq2seq"]), "--beam", "3"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1


def test_load_translator_gives_model_and_meta(checkpoints, tiny):
    model, meta = load_translator(checkpoints["transformer"])
    assert meta == tiny.meta and not model.training
    with pytest.raises(InputError, match="beam must be >= 1"):
        translate(model, meta, ["彼"], beam=0)


# --- the real corpora, where present -------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def shared_root() -> Path:
    for candidate in (os.environ.get("MILESTONES_DATA"), REPO.parent / "shared" / "data"):
        if candidate and (Path(candidate) / "small_parallel_enja" / "train.ja").is_file():
            return Path(candidate)
    pytest.skip("no small_parallel_enja under $MILESTONES_DATA or ../shared/data")


def test_small_parallel_enja_counts_and_first_pair(shared_root):
    d = load_translation_data("small_parallel_enja", root=str(shared_root))
    assert (len(d.train.src), len(d.val.src), len(d.test.src)) == (50000, 500, 500)  # 4-16 words: none dropped
    assert Vocab(d.meta["src_vocab"]).decode(d.train.src[0]) == list("誰が一番に着くか私には分かりません。")
    assert d.train.refs[0] == "i can 't tell who will arrive first .".split()
    assert 1500 < len(d.meta["src_vocab"]) < 1800  # characters seen twice or more
    assert 4000 < len(d.meta["tgt_vocab"]) < 4300  # of 6 634 English words, those seen twice or more
    assert d.meta["src_lang"] == "ja" and d.meta["tgt_lang"] == "en"


def test_multi30k_counts_and_first_pair(shared_root):
    if not (shared_root / "multi30k" / "task1").is_dir():
        pytest.skip("no multi30k/task1")
    d = load_translation_data("multi30k", root=str(shared_root), max_len=100)
    assert (len(d.train.src), len(d.val.src), len(d.test.src)) == (29000, 1014, 1000)
    src = Vocab(d.meta["src_vocab"]).decode(d.train.src[0])
    assert src == "zwei junge weiße männer sind im freien in der nähe vieler büsche .".split()
    assert d.train.refs[0] == "two young , white males are outside near many bushes .".split()


class TargetsOnly(torch.nn.Module):
    """A 'translator' that never reads its source: a bigram language model of the targets."""

    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.table = torch.nn.Embedding(vocab, vocab)

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor):
        return self.table(tgt_in), None  # (B, T, V)


def _memorise(model: torch.nn.Module, batch, steps: int = 300) -> None:
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        loss = seq2seq_step(model, batch).loss
        opt.zero_grad()
        loss.backward()
        opt.step()


def test_the_source_use_diagnostic_tells_a_translator_from_a_language_model(tiny):
    batch = whole_batch(tiny.train)  # six pairs, one batch: rolled, each target meets another sentence's source
    translator = tiny_model("transformer", tiny.meta)
    _memorise(translator, batch)
    lm = TargetsOnly(len(tiny.meta["tgt_vocab"]))
    _memorise(lm, batch)
    with torch.no_grad():
        real = seq2seq_step(translator, batch).loss.item()
        shuffled = shuffled_source_step(translator, batch).loss.item()
        lm_real, lm_shuffled = seq2seq_step(lm, batch).loss.item(), shuffled_source_step(lm, batch).loss.item()
    assert real < 0.05 and shuffled - real > 2.0  # it reads its source: another source, another sentence
    assert lm_shuffled == lm_real  # no source, no gap
    assert TASKS["seq2seq"].diagnostics == {"shuffled_source": shuffled_source_step}


def test_the_source_blind_bigram_baseline():
    text = [[BOS, 5, 6, 7, EOS]] * 20 + [[BOS, 5, 8, EOS]] * 20  # after 5, half the time 6, half 8
    ppl = bigram_perplexity(text, [[BOS, 5, 6, 7, EOS]], vocab_size=10)
    assert 1.0 < ppl < 1.4  # only the choice after 5 is uncertain: about 2 ** (1 / 4)
    assert bigram_perplexity(text, [[BOS, 9, 9, EOS]], vocab_size=10) > 5  # never seen: near uniform


# --- SentencePiece sources -----------------------------------------------------------------------------------------

def test_subwords_cut_typed_japanese_as_the_training_line(tiny_root):
    pytest.importorskip("sentencepiece")
    data = load_translation_data("small_parallel_enja", root=str(tiny_root), min_freq=1, subwords=30)
    meta = data.meta
    assert meta["src_subwords"] and "SentencePiece" in meta["tokenizer"]
    typed, = encode_sentences(meta, ["彼は背が高い。"])  # as a user types it, no spaces
    assert typed == data.train.src[0]  # the corpus line 「彼 は 背 が 高 い 。」, KyTea's spaces and all
    model = tiny_model("transformer", meta)
    assert translate(model, meta, ["彼は背が高い。"])[0].source  # the pieces, for attention labels


def test_subword_models_from_files_are_checked(tiny_root, tmp_path):
    pytest.importorskip("sentencepiece")
    from milestones.data.subword import train_subwords
    from milestones.data.text import normalise

    missing = tmp_path / "missing.model"
    with pytest.raises(DataError, match="SentencePiece model not found"):
        load_translation_data("small_parallel_enja", root=str(tiny_root), subword_model=str(missing))
    damaged = tmp_path / "damaged.model"
    damaged.write_bytes(b"\x00\x01 not a model" * 10)
    with pytest.raises(DataError, match="not a SentencePiece model"):
        load_translation_data("small_parallel_enja", root=str(tiny_root), subword_model=str(damaged))
    english = tmp_path / "english.model"  # trained on the English side: knows none of the Japanese characters
    english.write_bytes(train_subwords([normalise(e) for _, e in PAIRS], "en", 30))
    with pytest.raises(DataError, match="another language"):
        load_translation_data("small_parallel_enja", root=str(tiny_root), subword_model=str(english))
    own = tmp_path / "own.model"
    own.write_bytes(train_subwords([normalise(j) for j, _ in PAIRS], "ja", 30))
    data = load_translation_data("small_parallel_enja", root=str(tiny_root), min_freq=1, subword_model=str(own))
    assert data.meta["src_subwords"]
