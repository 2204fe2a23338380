"""Training throughput: plain transformers + peft against the Twinkle engine, same workload, one run.

The workload: ``--runs`` LoRA adapters on one base model, each trained ``--steps`` steps of
forward_backward + optimizer step + zero_grad on random token batches of ``--batch`` x ``--seq``.

(a) baseline: one peft model holding every run's adapter, switched with ``set_adapter`` before each
    run's step, one ``torch.optim.AdamW`` per adapter, the loss computed on the logits (labels
    arrive already shifted), the ordinary PyTorch loop.
(b) engine: a `ModelWorker` serving the same base model; one thread per run submits its ops as a
    tenant would and waits for each step's result, so the worker's round-robin queue interleaves them.

Models are random-initialised from embedded configs with the real shapes of Qwen2.5-0.5B and
Qwen2.5-7B (no download), bf16 on CUDA; ``--model tiny`` uses the project's tiny model and runs on
a CPU as a smoke check. Prints tokens/s and peak device memory side by side, with the ratios.

    python benchmarks/engine_throughput.py --model 0.5b --steps 20 --batch 4 --seq 512
    python benchmarks/engine_throughput.py --model tiny --steps 2 --batch 2 --seq 32   # CPU smoke

This is a measurement, not a test: it asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# Shapes from the published Qwen2.5 configs; the weights are random, so no download is needed.
QWEN25_05B = {
    "architectures": ["Qwen2ForCausalLM"],
    "model_type": "qwen2",
    "hidden_size": 896,
    "intermediate_size": 4864,
    "num_hidden_layers": 24,
    "num_attention_heads": 14,
    "num_key_value_heads": 2,
    "vocab_size": 151936,
    "max_position_embeddings": 32768,
    "rope_theta": 1000000.0,
    "rms_norm_eps": 1e-6,
    "hidden_act": "silu",
    "tie_word_embeddings": True,
    "use_sliding_window": False,
    "attention_dropout": 0.0,
    "bos_token_id": 151643,
    "eos_token_id": 151643,
}
QWEN25_7B = {
    **QWEN25_05B,
    "hidden_size": 3584,
    "intermediate_size": 18944,
    "num_hidden_layers": 28,
    "num_attention_heads": 28,
    "num_key_value_heads": 4,
    "vocab_size": 152064,
    "tie_word_embeddings": False,
}
CONFIGS = {"0.5b": QWEN25_05B, "7b": QWEN25_7B}

LORA = {"r": 8, "lora_alpha": 32, "lora_dropout": 0.0, "target_modules": "all-linear"}
LR = 1e-4


@dataclass
class Result:
    name: str
    tokens_per_s: float
    seconds: float
    peak_mem_gib: float | None
    mean_loss: float


# ----------------------------------------------------------------------------- workload


def model_folder(model: str, tmp: Path) -> Path:
    """A folder with config.json (and, for tiny, the tiny model's tokenizer) to random-init from."""
    folder = tmp / f"model-{model}"
    if model == "tiny":
        from twinkle_server.tiny_model import build_tiny_model

        return build_tiny_model(folder, seed=0)
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(CONFIGS[model], indent=2))
    return folder


def make_batches(vocab: int, *, runs: int, steps: int, batch: int, seq: int, seed: int) -> list[list[dict]]:
    """batches[run * steps + step]: rows of random ids; labels[i] = input_ids[i + 1] (already shifted)."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(runs * steps):
        ids = torch.randint(0, vocab, (batch, seq), generator=gen)
        labels = torch.cat([ids[:, 1:], torch.full((batch, 1), -100)], dim=1)
        out.append(
            [{"input_ids": i.tolist(), "labels": lab.tolist()} for i, lab in zip(ids, labels, strict=True)]
        )
    return out


def pick_device(arg: str) -> torch.device:
    if arg == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(arg)


def reset_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device) / 2**30


# ----------------------------------------------------------------------------- (a) baseline


def run_baseline(folder: Path, batches: list[list[dict]], args: argparse.Namespace, device, dtype) -> Result:
    """The plain loop: set_adapter, forward, loss on logits, backward, step, zero_grad."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoConfig, AutoModelForCausalLM

    reset_memory(device)
    torch.manual_seed(args.seed)
    config = AutoConfig.from_pretrained(str(folder))
    with device:
        base = AutoModelForCausalLM.from_config(config, dtype=dtype)
    base.requires_grad_(False)
    names = [f"run{k}" for k in range(args.runs)]
    model = get_peft_model(base, LoraConfig(**LORA), adapter_name=names[0])
    for name in names[1:]:
        model.add_adapter(name, LoraConfig(**LORA))
    optimizers = {}
    for name in names:
        params = [p for n, p in model.named_parameters() if "lora_" in n and f".{name}." in n]
        for p in params:
            p.requires_grad_(True)
        optimizers[name] = torch.optim.AdamW(params, lr=LR)
    model.train()

    def one_step(run: int, rows: list[dict]) -> float:
        name = names[run]
        model.base_model.set_adapter(name)
        ids = torch.tensor([r["input_ids"] for r in rows], device=device)
        labels = torch.tensor([r["labels"] for r in rows], device=device)
        logits = model(input_ids=ids).logits
        loss = torch.nn.functional.cross_entropy(
            logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100
        )
        loss.backward()
        optimizers[name].step()
        optimizers[name].zero_grad(set_to_none=True)
        return loss.item()

    for run in range(args.runs):  # warm-up, not timed
        one_step(run, batches[run * args.steps])
    sync(device)
    started = time.perf_counter()
    losses = []
    for step in range(args.steps):
        for run in range(args.runs):
            losses.append(one_step(run, batches[run * args.steps + step]))
    sync(device)
    seconds = time.perf_counter() - started
    peak = peak_memory(device)
    return Result("transformers+peft", tokens(args) / seconds, seconds, peak, sum(losses) / len(losses))


# ----------------------------------------------------------------------------- (b) engine


def run_engine(folder: Path, batches: list[list[dict]], args: argparse.Namespace, device, dtype) -> Result:
    """Each run is a tenant thread submitting forward_backward, step, zero_grad and waiting."""
    from twinkle_server.engine import ModelSpec, ModelWorker

    reset_memory(device)
    torch.manual_seed(args.seed)
    dtype_name = {torch.bfloat16: "bfloat16", torch.float32: "float32", torch.float16: "float16"}[dtype]
    spec = ModelSpec(
        model_id=f"bench-{args.model}",
        path=folder,
        device=str(device),
        dtype=dtype_name,
        max_loras=max(args.runs, 1),
        max_length=args.seq,
        random_init=True,
    )
    worker = ModelWorker(spec)
    worker.start()
    worker.wait_ready(timeout=1800)
    names = [f"run{k}" for k in range(args.runs)]
    for name in names:
        worker.create_run(name, lora=dict(LORA), seed=args.seed).result()
        worker.submit(name, "set_optimizer", name="AdamW", lr=LR).result()

    def one_step(run: int, rows: list[dict]) -> float:
        name = names[run]
        fb = worker.submit(name, "forward_backward", inputs=rows)
        stepped = worker.submit(name, "step")
        zeroed = worker.submit(name, "zero_grad")
        loss = fb.result()["loss"]
        stepped.result()
        zeroed.result()
        return loss

    for run in range(args.runs):  # warm-up, not timed
        one_step(run, batches[run * args.steps])
    sync(device)
    losses: list[float] = []
    errors: list[BaseException] = []

    def tenant(run: int) -> None:
        try:
            for step in range(args.steps):
                losses.append(one_step(run, batches[run * args.steps + step]))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=tenant, args=(run,)) for run in range(args.runs)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sync(device)
    seconds = time.perf_counter() - started
    peak = peak_memory(device)
    worker.stop()
    if errors:
        raise errors[0]
    return Result("twinkle engine", tokens(args) / seconds, seconds, peak, sum(losses) / len(losses))


# ----------------------------------------------------------------------------- report


def tokens(args: argparse.Namespace) -> int:
    return args.runs * args.steps * args.batch * args.seq


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def report(args: argparse.Namespace, device: torch.device, dtype, results: list[Result]) -> str:
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    lines = [
        f"model {args.model} (random init)  runs {args.runs}  steps {args.steps}  batch {args.batch}  "
        f"seq {args.seq}  {where}  {str(dtype).removeprefix('torch.')}  torch {torch.__version__}",
        f"{'':<20}{'tokens/s':>12}{'seconds':>10}{'peak GiB':>10}{'mean loss':>11}",
    ]
    for r in results:
        mem = f"{r.peak_mem_gib:.2f}" if r.peak_mem_gib is not None else "n/a"
        lines.append(f"{r.name:<20}{r.tokens_per_s:>12.0f}{r.seconds:>10.2f}{mem:>10}{r.mean_loss:>11.4f}")
    if len(results) == 2:
        base, eng = results
        mem_ratio = (
            f"{eng.peak_mem_gib / base.peak_mem_gib:.2f}x"
            if base.peak_mem_gib and eng.peak_mem_gib is not None
            else "n/a"
        )
        lines.append(
            f"{'engine / baseline':<20}{eng.tokens_per_s / base.tokens_per_s:>11.2f}x{'':>10}{mem_ratio:>10}"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=["0.5b", "7b", "tiny"], default="0.5b")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per run (after one warm-up)")
    parser.add_argument("--batch", type=int, default=4, help="rows per micro-batch")
    parser.add_argument("--seq", type=int, default=512, help="tokens per row")
    parser.add_argument("--runs", type=int, default=4, help="LoRA runs trained side by side")
    parser.add_argument("--device", default="auto", help="auto, cuda, cuda:N or cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", choices=["baseline", "engine"], help="run one side only")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    for name in ("steps", "batch", "seq", "runs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device = pick_device(args.device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    if device.type != "cuda" and args.model != "tiny":
        print(f"warning: {args.model} on the CPU will be very slow; use --model tiny for a smoke check")
    with tempfile.TemporaryDirectory() as tmp:
        folder = model_folder(args.model, Path(tmp))
        vocab = json.loads((folder / "config.json").read_text())["vocab_size"]
        batches = make_batches(
            vocab, runs=args.runs, steps=args.steps, batch=args.batch, seq=args.seq, seed=args.seed
        )
        results = []
        if args.only in (None, "baseline"):
            results.append(run_baseline(folder, batches, args, device, dtype))
            reset_memory(device)  # the baseline's model is unreachable now; free it before (b)
        if args.only in (None, "engine"):
            results.append(run_engine(folder, batches, args, device, dtype))
    text = report(args, device, dtype, results)
    print(text)
    if args.json:
        args.json.write_text(
            json.dumps(
                {"args": vars(args) | {"json": str(args.json)}, "results": [asdict(r) for r in results]},
                indent=2,
            )
        )
    bad = [r.name for r in results if not math.isfinite(r.mean_loss)]
    if bad:
        print(f"non-finite loss in: {', '.join(bad)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
