"""The translators side by side: BLEU, BLEU by sentence length (Bahdanau et al. 2015, Fig. 2) and training
throughput (the sequential RNNs against the parallel Transformer), from finished translation runs.

    python scripts/experiments/exp_translation.py runs/lstm_seq2seq_enja_cpu runs/rnnsearch_enja_cpu runs/transformer_enja_cpu

For each run folder: its checkpoint is evaluated again on the test split with its own config (greedy decoding;
sacrebleu corpus BLEU on the tokenised, lower-cased text), so that runs made before BLEU-by-length existed are
scored the same way; whether it reads its source (perplexity with each target given another sentence's source,
and that of a source-blind bigram model of the targets); BLEU per quartile of sentence length (reference words);
training throughput in target tokens/s (mean over the
epochs in metrics.jsonl); training minutes (results.json); and, for ja->en, the running example translated. With
`--beam N` each test set is also decoded with beam search (GNMT length penalty, alpha 0.6 as in Vaswani et al.
Sec. 6.1; the same as a run's own `trainer.beam`), a second BLEU column. With `--stress N`, the long-sentence
test: the test pairs joined 1, 2, ..., N at a time (so sources up to N times the corpus's lengths), BLEU per join
count and by source length over all of them (`trainer.length_stress`; Bahdanau et al. 2015, Fig. 2).
Writes <output-dir>/translation/: table.md, results.json, bleu_by_length.png (and bleu_length_stress.png).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from milestones.checkpoint import CHECKPOINT
from milestones.configfile import with_overrides
from milestones.data.datasets import DATASETS
from milestones.leaderboard import markdown_table, write_outputs
from milestones.plots import length_stress_series, plot_lines
from milestones.runs import Entry, load_run
from milestones.evaluation import evaluate_checkpoint
from milestones.tour import EXAMPLE
from milestones.translate import load_translator, translate


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", help="finished translation run folders")
    p.add_argument("--output-dir", default="runs")
    p.add_argument("--beam", type=int, default=1, help="also score beam search of this size (1: greedy only)")
    p.add_argument("--stress", type=int, default=0, metavar="N", help="also the test pairs joined 1..N at a time")
    args = p.parse_args()

    out = Path(args.output_dir) / "translation"
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for folder in map(Path, args.runs):
        run = load_run(folder)
        if run is None:
            raise SystemExit(f"exp_translation: {folder} is not a finished run (results.json, config.yaml)")
        cfg, finished = run.config, run.results
        m = evaluate_checkpoint(with_overrides(cfg, trainer={"beam": args.beam, "length_stress": args.stress}),
                                folder / CHECKPOINT)
        example = "-"
        if DATASETS[cfg.data.name].languages[0] == "ja":  # the running example is Japanese
            model, meta = load_translator(folder / CHECKPOINT)
            example = translate(model, meta, [EXAMPLE])[0].text
        results.append({
            "run": str(folder), "model": cfg.model.name, "data": cfg.data.name, "params": finished["params"],
            "epochs": finished["epochs"], "train_minutes": finished["train_seconds"] / 60,
            "tokens_per_s": Entry([run]).rate(),
            "test_bleu": m["test_bleu"], "test_ppl": m["test_ppl"], "bleu_by_length": m["bleu_by_length"],
            "test_ppl_shuffled_source": math.exp(min(m["test_loss_shuffled_source"], 50.0)),
            "test_ppl_source_blind": m["test_ppl_source_blind"], "bleu_signature": m["bleu_signature"],
            "example": example, "hardware": finished["hardware"],
        })
        if args.beam > 1:
            results[-1]["beam"] = {**m["beam"], "test_bleu": m["test_bleu_beam"]}
        if args.stress:
            results[-1]["length_stress"] = m["length_stress"]

    buckets = list(results[0]["bleu_by_length"])
    rows = [[r["model"], f"{r['params']:,}", r["epochs"], f"{r['train_minutes']:.1f}", f"{r['tokens_per_s']:,.0f}",
             f"{r['test_bleu']:.2f}", *([f"{r['beam']['test_bleu']:.2f}"] if args.beam > 1 else []),
             f"{r['test_ppl']:.2f}", f"{r['test_ppl_shuffled_source']:.1f}", f"{r['test_ppl_source_blind']:.1f}",
             *(f"{b['bleu']:.1f}" for b in r["bleu_by_length"].values()), r["example"]]
            for r in results]
    beam_col = [f"test BLEU, beam {args.beam}"] if args.beam > 1 else []
    table = markdown_table(["model", "params", "epochs", "train min", "target tokens/s", "test BLEU (greedy)",
                            *beam_col, "perplexity", "perplexity, other sentences' sources",
                            "source-blind bigram perplexity", *(f"BLEU, {k} words" for k in buckets), EXAMPLE], rows)
    plot_lines({r["model"]: [(b["max_len"], b["bleu"]) for b in r["bleu_by_length"].values()] for r in results},
               out / "bleu_by_length.png", xlabel="sentence length (reference words; the quartile's upper end)",
               ylabel="test BLEU", title=f"BLEU by sentence length ({results[0]['data']}, greedy)")
    intro = (f"Translators on {results[0]['data']} ({results[0]['hardware']}); test BLEU by quartile of the sentence "
             f"length (words of the reference translation), each quartile a quarter of the test sentences; "
             f"BLEU signature {results[0]['bleu_signature']} (lower-cased, tokenised text).")
    if args.stress:
        joins = list(results[0]["length_stress"]["by_join"].values())
        stress = markdown_table(
            ["model", *(f"BLEU, {j['pairs_joined']} pair(s) joined (mean {j['mean_ref_len']:.0f} reference words)"
                        for j in joins)],
            [[r["model"], *(f"{j['bleu']:.2f}" for j in r["length_stress"]["by_join"].values())] for r in results])
        table += "\n\nLong sentences (test pairs joined, greedy):\n\n" + stress
        plot_lines(length_stress_series({r["model"]: r for r in results}), out / "bleu_length_stress.png",
                   xlabel="sentence length (reference words; test pairs joined 1-N at a time)", ylabel="BLEU",
                   title=f"{results[0]['data']}: BLEU by source length\n(test pairs joined; cf. Bahdanau et al. Fig. 2)")
    write_outputs(out, table, {"runs": results}, intro)


if __name__ == "__main__":
    main()
