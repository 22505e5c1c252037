"""Curation at scale. Prints figures; asserts nothing.

1. Near-dedup: 100,000 synthetic instructions, 10% of them planted near-duplicates of
   another record (a word substituted, inserted or dropped, two in a text of 20 words or
   more; case and punctuation changed). Wall time of the near-dedup pass at its defaults, and recall and precision on
   the planted pairs. Then templated tasks (one template, different numbers or names, as
   word problems and "facts about <city>" are) with reworded copies of some: how many
   distinct tasks are wrongly flagged, and the copies' recall, with and without
   `same_particulars`.
2. Export: 1,000,000 chain-of-thought records in one dataset version in Postgres, streamed
   by the download code in a fresh process per file format: MB/s and that process's peak
   RSS.

    python bench/curation.py [--records 100000] [--export-records 1000000]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time

from stack import ROOT, fresh_database

OPENERS = ["Explain how", "Write a short note on", "What is the role of", "Describe why", "Summarise", "Compare"]


def synthetic(n: int, planted_share: float, rng: random.Random) -> tuple[list[str], dict[int, int]]:
    """n instructions; {index of a planted near-duplicate: index of the record it copies}."""
    vocab = [f"{a}{b}" for a in ("ka", "lo", "mi", "nu", "pe", "ra", "si", "tu") for b in range(900)]
    planted_n = int(n * planted_share)
    texts = [f"{rng.choice(OPENERS)} {' '.join(rng.choices(vocab, k=rng.randint(10, 24)))}" for _ in range(n)]
    planted = {}
    chosen = rng.sample(range(n), planted_n)
    originals = sorted(set(range(n)) - set(chosen))  # a copy's source is never a copy itself
    for index in chosen:
        source = rng.choice(originals)
        words = texts[source].split()
        # One word changed, two in a long text: a reworded copy, not a new task.
        for _ in range(1 if len(words) < 20 else rng.randint(1, 2)):
            at = rng.randrange(2, len(words))
            edit = rng.choice(("substitute", "insert", "drop"))
            if edit == "substitute":
                words[at] = rng.choice(vocab)
            elif edit == "insert":
                words.insert(at, rng.choice(vocab))
            else:
                del words[at]
        text = " ".join(words)
        texts[index] = (text.upper() if rng.random() < 0.2 else text) + rng.choice(("", "?", "."))
        planted[index] = source
    return texts, planted


CITIES = ["Paris", "Lima", "Tokyo", "Nairobi", "Oslo", "Cairo", "Quito", "Hanoi", "Lagos", "Perth", "Riga", "Dakar"]


def templated(families: int, per: int, copy_share: float, rng: random.Random) -> tuple[list[str], dict[int, int]]:
    """`families` templates of `per` distinct tasks each, differing only in two numbers or
    in a city; {index of a reworded copy: index of the task it copies}."""
    vocab = [f"{a}{b}" for a in ("ba", "do", "fe", "gu") for b in range(500)]
    texts: list[str] = []
    for family in range(families):
        words = rng.choices(vocab, k=rng.randint(8, 16))
        cut = rng.randrange(2, len(words) - 2)
        head, tail = " ".join(words[:cut]), " ".join(words[cut:])
        cities = rng.sample(CITIES, per)
        for k in range(per):
            if family % 2:  # a word problem: the numbers change
                texts.append(f"If {rng.choice(OPENERS).lower()} {head} {rng.randint(2, 999)} {tail} {k + 2}?")
            else:  # facts about a place: the name changes
                texts.append(f"Tell me about {head} in {cities[k]} and {tail}.")
    planted = {}
    for source in rng.sample(range(len(texts)), int(len(texts) * copy_share)):
        words = texts[source].split()
        at = rng.randrange(3, len(words) - 2)
        while words[at][0].isdigit() or words[at][0].isupper():  # a copy keeps the particulars
            at = rng.randrange(3, len(words) - 2)
        words[at] = rng.choice(vocab)
        text = " ".join(words)
        planted[len(texts)] = source
        texts.append(text.lower() if rng.random() < 0.2 else text)
    return texts, planted


def bench_templated() -> None:
    from distillery.curation.near_dedup import Shingling, near_duplicates
    from distillery.schemas.curation import NearDedup

    settings = NearDedup()
    texts, planted = templated(200, 10, 0.2, random.Random(11))
    distinct = len(texts) - len(planted)
    print(f"templated: {distinct:,} distinct tasks in 200 templates, {len(planted):,} reworded copies of them")
    for same in (False, True):
        found = near_duplicates(
            texts,
            threshold=settings.threshold,
            num_perm=settings.num_perm,
            shingling=Shingling(settings.shingle, settings.n),
            same_particulars=same,
        )
        wrong = sum(d.index not in planted for d in found)
        right = sum(planted.get(d.index) == d.kept for d in found)
        print(
            f"  same_particulars={same!s:5}: distinct tasks flagged {wrong:,} of {distinct:,};"
            f" copies caught {right / len(planted):.4f}"
        )


def bench_near_dedup(n: int) -> None:
    sys.path.insert(0, str(ROOT))
    from distillery.curation.near_dedup import Shingling, near_duplicates
    from distillery.schemas.curation import NearDedup

    settings = NearDedup()
    texts, planted = synthetic(n, 0.10, random.Random(7))
    started = time.perf_counter()
    found = near_duplicates(
        texts,
        threshold=settings.threshold,
        num_perm=settings.num_perm,
        shingling=Shingling(settings.shingle, settings.n),
    )
    elapsed = time.perf_counter() - started
    # A record and its planted copies are one family: a flag is right when the record kept
    # in its place is of the same family (two copies of one record match each other too),
    # and each family should lose all but one member.
    family = {i: planted.get(i, i) for i in range(n)}
    right = sum(family[d.index] == family[d.kept] for d in found)
    print(f"near-dedup: {n:,} records, {len(planted):,} planted near-duplicates")
    print(
        f"  settings: {settings.shingle} 1..{settings.n}-grams, {settings.num_perm} permutations,"
        f" Jaccard >= {settings.threshold}"
    )
    print(f"  wall time {elapsed:.2f} s ({n / elapsed:,.0f} records/s)")
    print(f"  flagged {len(found):,}; recall {right / len(planted):.4f}; precision {right / max(1, len(found)):.4f}")
    bench_templated()


def _load_records(database_url: str, n: int) -> str:
    """A dataset version of n records, written with COPY; returns its id."""
    import psycopg

    os.environ["DISTILLERY_DATABASE_URL"] = database_url
    sys.path.insert(0, str(ROOT))
    from distillery.db.migrate import upgrade

    upgrade()
    rng = random.Random(3)
    dsn = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        conn.execute("INSERT INTO tenants (id, name, created_at) VALUES ('t_bench', 'bench', now())")
        conn.execute(
            "INSERT INTO datasets (id, tenant_id, name, version, kind, sources, record_count, stats, created_at)"
            " VALUES ('ds_bench', 't_bench', 'bench', 1, 'sft', '[]', %s, '{}', now())",
            (n,),
        )
        columns = (
            "id, ordinal, method, step, seed_ids, instruction, input, messages, parsed, rationale, answer, scores,"
            " status, created_at"
        )
        with conn.cursor().copy(f"COPY records ({columns}) FROM STDIN") as copy:
            for i in range(1, n + 1):
                a, b = rng.randint(10, 999), rng.randint(10, 999)
                rationale = " ".join(
                    f"Step {s}: multiply {a} by the {s}-th digit of {b} and carry the tens into the next column."
                    for s in range(1, rng.randint(4, 8))
                )
                copy.write_row(
                    (
                        i,
                        0,
                        "label",
                        "label",
                        "[]",
                        f"What is {a} * {b}? Show your working.",
                        "",
                        "[]",
                        "{}",
                        rationale,
                        str(a * b),
                        "{}",
                        "accepted",
                        "2026-12-01",
                    )
                )
        with conn.cursor().copy("COPY dataset_records (dataset_id, position, record_id) FROM STDIN") as copy:
            for i in range(1, n + 1):
                copy.write_row(("ds_bench", i - 1, i))
    # What autovacuum would otherwise do during the measurements, on the bench's two cores.
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE records, dataset_records")
    return "ds_bench"


# Peak RSS from VmHWM: ru_maxrss would carry over the bench's own peak across exec.
_EXPORT = """
import os, re, sys, time
sys.path.insert(0, {root!r})
from distillery.datasets import download
from distillery.datasets.exporters import ExportOptions
from distillery.main import tune_gc
tune_gc()  # as the API does at start-up
started = time.perf_counter()
size = 0
for chunk in download.stream("ds_bench", {fmt!r}, {file!r}, ExportOptions()):
    size += len(chunk)
elapsed = time.perf_counter() - started
peak_kb = re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1)
print(size, elapsed, peak_kb)
"""


def bench_export(n: int) -> None:
    database_url = fresh_database("distillery_bench_export")
    started = time.perf_counter()
    dataset_id = _load_records(database_url, n)
    print(f"export: {n:,} records in dataset {dataset_id} (loaded in {time.perf_counter() - started:.0f} s)")
    env = {**os.environ, "DISTILLERY_DATABASE_URL": database_url}
    for fmt, file in (
        ("openai-chat", "jsonl"),
        ("alpaca", "jsonl"),
        ("openai-chat", "jsonl.gz"),
        ("openai-chat", "parquet"),
    ):
        code = _EXPORT.format(root=str(ROOT), fmt=fmt, file=file)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        size, elapsed, rss_kb = out.stdout.split()
        mb, seconds = int(size) / 1e6, float(elapsed)
        print(
            f"  {fmt:12} {file:9} {mb:8.1f} MB in {seconds:6.2f} s: {mb / seconds:6.1f} MB/s,"
            f" {n / seconds:9,.0f} records/s, peak RSS {int(rss_kb) / 1024:.0f} MB"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--export-records", type=int, default=1_000_000)
    args = parser.parse_args()
    bench_near_dedup(args.records)
    bench_export(args.export_records)


if __name__ == "__main__":
    main()
