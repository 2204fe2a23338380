"""Encoding speed of the data pipeline on a generated 20k-row dataset (CPU; prints rows/s).

Runs the seed example's data steps (load a JSON-lines file, SelfCognitionProcessor, encode with the
tiny model's tokenizer, max_length 512) and prints the time and rows/s of each step. The encode is
measured twice side by side: with the template's ``{% generation %}`` blocks, and with the same
template stripped of them (the prefix-rendering fallback most real chat templates need).

    python benchmarks/encode_speed.py [--rows 20000] [--model-dir DIR] [--num-proc N]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from twinkle_server import assets
from twinkle_server.data import Dataset, DatasetMeta
from twinkle_server.resolver import Resolver


def generate_rows(n: int, seed: int = 0) -> list[dict[str, str]]:
    """``n`` self-cognition-style rows: shipped rows with varied extra sentences (lengths vary)."""
    base = [json.loads(line) for line in assets.path("self_cognition.jsonl").read_text().splitlines() if line]
    extras = [r["response"] for r in base]
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        row = base[i % len(base)]
        tail = " ".join(rng.sample(extras, rng.randint(0, 3)))
        rows.append({"query": row["query"], "response": f"{row['response']} {tail}".strip()})
    return rows


def timed(label: str, n: int, fn) -> float:
    """Print wall time and rows/s, and rows per CPU-second of this process (steadier on a shared
    machine; for worker processes it counts only the parent's share, so read the wall figure)."""
    start, cpu = time.perf_counter(), time.process_time()
    fn()
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    print(
        f"{label:<46} {seconds:7.2f} s  {n / seconds:8.0f} rows/s  "
        f"{n / max(cpu_seconds, 1e-9):8.0f} rows/cpu-s",
        flush=True,
    )
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--model-dir", type=Path, default=None, help="a built tiny model (built if omitted)")
    parser.add_argument("--num-proc", type=int, default=None, help="also time encode with N worker processes")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="twinkle-bench-") as tmp:
        tmp_path = Path(tmp)
        model_dir = args.model_dir
        if model_dir is None:
            from twinkle_server.tiny_model import build_tiny_model

            model_dir = build_tiny_model(tmp_path / "tiny-model")
        data_root = tmp_path / "datasets"
        data_root.mkdir()
        rows = generate_rows(args.rows)
        (data_root / "bench.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        resolver = Resolver(aliases={"tiny": model_dir}, data_roots=[data_root], allow_download=False)

        from transformers import AutoTokenizer

        plain = AutoTokenizer.from_pretrained(model_dir)
        plain.chat_template = re.sub(r"\{%-?\s*(end)?generation\s*-?%\}", "", plain.chat_template)

        n = len(rows)
        print(f"{n} rows, tiny model tokenizer, max_length 512")
        holder: dict[str, Dataset] = {}

        def load() -> None:
            holder["ds"] = Dataset(DatasetMeta("bench.jsonl"), resolver=resolver)

        def prepare(ds: Dataset) -> None:
            ds.map(
                "SelfCognitionProcessor", init_args={"model_name": "twinkle model", "model_author": "Team"}
            )

        timed("load (jsonl)", n, load)
        timed("map SelfCognitionProcessor", n, lambda: prepare(holder["ds"]))
        fallback = Dataset(DatasetMeta("bench.jsonl"), resolver=resolver)
        prepare(fallback)
        holder["ds"].set_template("Template", model_id="tiny", max_length=512)
        fallback.set_template("Template", tokenizer=plain, max_length=512)
        timed("encode, generation blocks", n, holder["ds"].encode)
        timed("encode, prefix fallback (no generation)", n, fallback.encode)
        if args.num_proc and args.num_proc > 1:
            again = Dataset(DatasetMeta("bench.jsonl"), resolver=resolver)
            prepare(again)
            again.set_template("Template", model_id="tiny", max_length=512)
            timed(
                f"encode, generation blocks, num_proc={args.num_proc}",
                n,
                lambda: again.encode(num_proc=args.num_proc),
            )
        tokens = sum(holder["ds"].table["length"])
        print(
            f"mean length {tokens / n:.1f} tokens; same labels both ways: "
            f"{holder['ds'].table['labels'] == fallback.table['labels']}"
        )


if __name__ == "__main__":
    main()
