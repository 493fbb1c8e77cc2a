"""Retrieval quality on real text: keyword vs semantic vs hybrid, and the choice of fusion rule.

Corpus: first paragraphs of the docstrings of the Python standard library
(``bench/stdlib_corpus.py``: ~1,900 documents, keyed ``module.name``; every other document is a
distractor for a given query). Queries, written by hand, each naming the one document that answers it:
``bench/data/stdlib_queries.tsv``, 256 paraphrases (they avoid the document's words: hard for
keyword search), and ``bench/data/stdlib_queries_lexical.tsv``, 100 queries that name a function
or a rare term (what a developer types when they know the name: hard for embeddings).

Run: ``python bench/retrieval_quality.py`` (about a minute: the corpus is embedded once with the
default model). Prints recall@1/5/10 and MRR per mode and per fusion setting.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import mindbank

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from stdlib_corpus import build_corpus  # noqa: E402


def load_queries(name: str = "stdlib_queries.tsv") -> list[tuple[str, str]]:
    out = []
    for line in (HERE / "data" / name).read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            key, query = line.split("\t")
            out.append((key, query))
    return out


def evaluate(mb: mindbank.MindBank, queries: list[tuple[str, str]], mode: str) -> dict[str, float]:
    ranks = []
    for key, query in queries:
        hits = mb.search(query, k=10, mode=mode)
        keys = [h.entry.key for h in hits]
        ranks.append(keys.index(key) + 1 if key in keys else None)
    n = len(ranks)
    return {
        "R@1": sum(1 for r in ranks if r == 1) / n,
        "R@5": sum(1 for r in ranks if r is not None and r <= 5) / n,
        "R@10": sum(1 for r in ranks if r is not None) / n,
        "MRR": sum(1.0 / r for r in ranks if r is not None) / n,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--embedder", default="minilm")
    parser.add_argument("--quick", action="store_true", help="only the default settings")
    args = parser.parse_args()
    corpus = build_corpus()
    sets = {
        "paraphrase": load_queries(),
        "lexical": load_queries("stdlib_queries_lexical.tsv"),
    }
    sets["all"] = sets["paraphrase"] + sets["lexical"]
    tmp = Path(tempfile.mkdtemp(prefix="mindbank-quality-"))
    path = tmp / "memory.db"
    base = mindbank.Settings(query_cache_size=0)
    with mindbank.open(path, settings=base, embedder=args.embedder) as mb:
        start = time.perf_counter()
        mb.store_many({"key": k, "value": v, "namespace": "stdlib"} for k, v in corpus.items())
        took = time.perf_counter() - start
    print(
        f"corpus: {len(corpus)} docstrings; queries: {len(sets['paraphrase'])} paraphrase, "
        f"{len(sets['lexical'])} lexical; embedder {args.embedder}; stored and embedded in "
        f"{took:.1f} s"
    )
    print(f"{'':<30}" + "".join(f"{name:^29}" for name in sets))
    print(f"{'mode':<30}" + f"{'R@1':>7}{'R@5':>7}{'R@10':>7}{'MRR':>7} " * len(sets))

    def row(label: str, mb: mindbank.MindBank, mode: str) -> None:
        cells = ""
        for queries in sets.values():
            m = evaluate(mb, queries, mode)
            cells += f"{m['R@1']:7.3f}{m['R@5']:7.3f}{m['R@10']:7.3f}{m['MRR']:7.3f} "
        print(f"{label:<30}{cells}")

    with mindbank.open(path, settings=base, embedder=args.embedder) as mb:
        row("keyword (BM25)", mb, "keyword")
        row("semantic", mb, "semantic")
        row(f"hybrid (default: a={base.fusion_alpha}, k={base.fusion_k})", mb, "hybrid")
    if args.quick:
        return
    settings = [replace(base, fusion="rrf")] + [
        replace(base, fusion_alpha=a, fusion_k=k)
        for a in (0.5, 0.6, 0.7, 0.8, 0.9)
        for k in (4.0, 16.0, 64.0)
    ]
    for s in settings:
        with mindbank.open(path, settings=s, embedder=args.embedder) as mb:
            label = (
                "hybrid rrf" if s.fusion == "rrf" else f"hybrid a={s.fusion_alpha} k={s.fusion_k}"
            )
            row(label, mb, "hybrid")


if __name__ == "__main__":
    main()
