"""Sampling throughput: many prompts decoded in one batch against one request at a time.

Two runs (two LoRA adapters) on one base model each ask for ``--prompts`` prompts x
``--samples`` continuations of ``--max-tokens`` tokens. Three ways, in one process, on one device:

  one at a time   every (prompt, sample) its own request, one after another
  per request     each run's request decodes its prompts x samples as one batch
  fused           both runs' requests decode together in one batch (what the worker does when
                  their requests wait at the same moment)

and, for weights that are not a run's: a run, one of its checkpoints (a frozen adapter entry) and
the base model (no adapter), as three passes one after another or as one shared pass:

  sources apart   three requests, three batches
  sources fused   the same three requests in one batch

Prints generated tokens/s and the ratios. A measurement, not a test.

    python benchmarks/sampling.py --model tiny --prompts 16 --samples 4 --max-tokens 32
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.multitenant import model_folder, pick_device, sync

RUNS = ("run_a", "run_b")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=["tiny", "small", "0.5b", "7b"], default="tiny")
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--prompt-tokens", type=int, default=24)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)

    from twinkle_server.engine import ModelSpec, MultiLoraModel

    device = pick_device(args.device)
    with tempfile.TemporaryDirectory(prefix="twinkle-bench-") as tmp:
        folder = model_folder(args.model, Path(tmp))
        spec = ModelSpec(
            model_id="bench", path=folder, device=str(device), max_loras=2, random_init=args.model != "tiny"
        )
        engine = MultiLoraModel(spec)
        for seed, run in enumerate(RUNS):
            engine.add_run(run, lora={"r": 8, "init_lora_weights": False}, seed=seed)
        vocab = engine.vocab_size
        gen = torch.Generator().manual_seed(0)
        prompts = [
            {"input_ids": torch.randint(0, vocab, (args.prompt_tokens,), generator=gen).tolist()}
            for _ in range(args.prompts)
        ]
        common = {"max_tokens": args.max_tokens, "temperature": 1.0}

        def generated(results: list[dict]) -> int:
            return sum(len(seq["tokens"]) for result in results for seq in result["sequences"])

        def one_at_a_time() -> int:
            return generated(
                [
                    engine.run_op(run, "sample", prompts=[prompt], num_samples=1, seed=k * 100 + s, **common)
                    for run in RUNS
                    for k, prompt in enumerate(prompts)
                    for s in range(args.samples)
                ]
            )

        def per_request() -> int:
            return generated(
                [
                    engine.run_op(run, "sample", prompts=prompts, num_samples=args.samples, seed=1, **common)
                    for run in RUNS
                ]
            )

        def fused() -> int:
            items = [
                engine.prepare(run, "sample", prompts=prompts, num_samples=args.samples, seed=1, **common)
                for run in RUNS
            ]
            return generated(engine.run_passes(items))

        engine.run_op(RUNS[0], "save", path=str(Path(tmp) / "ckpt"))
        sources = [
            (RUNS[0], {}),
            ("bench_sampler", {"adapter_path": str(Path(tmp) / "ckpt")}),
            ("bench_sampler", {"base": True}),
        ]

        def source_items() -> list:
            return [
                engine.prepare(
                    queue, "sample", prompts=prompts, num_samples=args.samples, seed=1, **source, **common
                )
                for queue, source in sources
            ]

        def sources_apart() -> int:
            return generated([result for item in source_items() for result in engine.run_passes([item])])

        def sources_fused() -> int:
            return generated(engine.run_passes(source_items()))

        per_request()  # warm-up
        sources_fused()
        results = {}
        modes = (
            ("one at a time", one_at_a_time),
            ("per request", per_request),
            ("fused", fused),
            ("sources apart", sources_apart),
            ("sources fused", sources_fused),
        )
        for name, fn in modes:
            sync(device)
            started = time.perf_counter()
            tokens = fn()
            sync(device)
            results[name] = tokens / (time.perf_counter() - started)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(
        f"sampling: model {args.model}, {len(RUNS)} runs x {args.prompts} prompts x {args.samples} samples x "
        f"{args.max_tokens} tokens, {where}, torch {torch.__version__}"
    )
    for name, rate in results.items():
        print(f"  {name:<14} {rate:>10.0f} tokens/s   {rate / results['one at a time']:>6.1f}x")
    print(f"  sources fused / sources apart: {results['sources fused'] / results['sources apart']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
