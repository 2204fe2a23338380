"""Many tenants on one base model: plain peft, the engine round robin, fused, and through HTTP.

The workload: ``--tenants`` LoRA adapters on one base model, each trained ``--steps`` steps of
forward_backward + step + zero_grad on random token batches of ``--batch`` rows of ``--seq`` tokens
(or of lengths drawn from ``--min-seq``..``--seq``, where row packing pays). The same
batches go through each mode, each mode in a fresh process, one after another, on one device:

  peft          plain transformers + peft, tenants one after another (as each would train alone):
                set_adapter, forward, loss on the logits (labels arrive shifted), backward, AdamW.
  round-robin   the engine's worker with fusion off: tenant threads submit concurrently, the
                worker runs their ops in turn.
  fused         the same with fusion on: waiting tenants' forward_backward share passes, a run's
                short rows packed end to end (``pack_rows``, the default).
  fused-padded  fused with packing off: every row padded to the pass's widest.
  http-alone    ``twinkle-server serve`` + the Python client, tenants one after another.
  http          the same, all tenants at once (one client, user and key each).

Prints tokens/s and peak device memory per mode, then the ratios that matter: fused against
round robin, concurrent HTTP against one-after-another HTTP, and each mode against plain peft.
Models are random-initialised from configs with real shapes (nothing downloaded): ``0.5b`` and
``7b`` (Qwen2.5), ``small`` (Qwen2, hidden 256 x 4 layers, a laptop CPU workload) and ``tiny``.

    python benchmarks/multitenant.py --model small --tenants 4 --batch 1 --seq 64 --steps 20
    python benchmarks/multitenant.py --model 0.5b --tenants 4 --batch 8 --seq 512 --modes peft,fused

This is a measurement, not a test: it asserts nothing about speed. HTTP modes need the server
extra (fastapi, uvicorn); on a machine without them, leave them out of ``--modes``.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._serve import create_key, free_port, launch, stop, wait_healthy

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
SMALL = {"hidden_size": 256, "intermediate_size": 1024, "num_hidden_layers": 4}
CONFIGS = {"0.5b": QWEN25_05B, "7b": QWEN25_7B}
MODES = ("peft", "round-robin", "fused", "fused-padded", "http-alone", "http")

LORA = {"r": 8, "lora_alpha": 32, "lora_dropout": 0.0, "target_modules": "all-linear"}
LR = 1e-4
MODEL_ID = "bench"


@dataclass
class Result:
    mode: str
    tokens_per_s: float
    seconds: float
    peak_mem_gib: float | None
    mean_loss: float


# ----------------------------------------------------------------------------- workload


def model_folder(model: str, tmp: Path) -> Path:
    """A folder with config.json (and, for tiny and small, the tiny model's tokenizer)."""
    folder = tmp / f"model-{model}"
    if model in ("tiny", "small"):
        from twinkle_server.tiny_model import build_tiny_model

        build_tiny_model(folder, seed=0)
        if model == "small":
            config = json.loads((folder / "config.json").read_text())
            config.update(SMALL)
            config["layer_types"] = (
                config.get("layer_types", ["full_attention"])[:1] * SMALL["num_hidden_layers"]
            )
            (folder / "config.json").write_text(json.dumps(config, indent=2))
        return folder
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(CONFIGS[model], indent=2))
    return folder


def make_batches(vocab: int, args: argparse.Namespace) -> list[list[list[dict]]]:
    """batches[tenant][step]: rows of random ids; labels[i] = input_ids[i + 1] (already shifted).

    One extra step per tenant comes first: the warm-up, not timed.
    """
    gen = torch.Generator().manual_seed(args.seed)
    out = []
    for _ in range(args.tenants):
        steps = []
        for _ in range(args.steps + 1):
            rows = []
            for _ in range(args.batch):
                length = int(torch.randint(args.min_seq, args.seq + 1, (1,), generator=gen))
                ids = torch.randint(0, vocab, (length,), generator=gen).tolist()
                rows.append({"input_ids": ids, "labels": [*ids[1:], -100]})
            steps.append(rows)
        out.append(steps)
    return out


def timed(
    mode: str,
    args: argparse.Namespace,
    device,
    batches,
    step: Callable[[int, list[dict]], float],
    *,
    together: bool,
) -> Result:
    """Warm every tenant up with one step, then time the rest: in threads, or tenant by tenant."""
    for tenant in range(args.tenants):
        step(tenant, batches[tenant][0])
    sync(device)
    reset_peak(device)
    started = time.perf_counter()
    losses = train_tenants(step, [tenant[1:] for tenant in batches], together=together)
    sync(device)
    seconds = time.perf_counter() - started
    tokens = sum(len(row["input_ids"]) for tenant in batches for rows in tenant[1:] for row in rows)
    return Result(mode, tokens / seconds, seconds, peak_memory(device), sum(losses) / len(losses))


def train_tenants(step: Callable[[int, list[dict]], float], batches, *, together: bool) -> list[float]:
    """Every tenant's ``step`` over its ``batches[tenant]``: all at once (a thread each) or one
    tenant after another; the losses. The first error of any tenant is raised."""
    losses: list[float] = []
    errors: list[BaseException] = []

    def tenant_loop(tenant: int) -> None:
        try:
            for rows in batches[tenant]:
                losses.append(step(tenant, rows))
        except BaseException as exc:
            errors.append(exc)

    if together:
        threads = [threading.Thread(target=tenant_loop, args=(t,)) for t in range(len(batches))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    else:
        for tenant in range(len(batches)):
            tenant_loop(tenant)
    if errors:
        raise errors[0]
    return losses


# ----------------------------------------------------------------------------- plain peft


def run_peft(folder: Path, batches, args: argparse.Namespace, device, dtype) -> Result:
    return timed("peft", args, device, batches, peft_trainer(folder, args, device, dtype), together=False)


def peft_trainer(folder: Path, args: argparse.Namespace, device, dtype) -> Callable[[int, list[dict]], float]:
    """``step(tenant, rows) -> loss`` of plain transformers + peft: one adapter and AdamW per tenant."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.manual_seed(args.seed)
    with device:
        base = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(str(folder)), dtype=dtype)
    base.requires_grad_(False)
    names = [f"tenant{k}" for k in range(args.tenants)]
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

    def step(tenant: int, rows: list[dict]) -> float:
        name = names[tenant]
        model.base_model.set_adapter(name)
        ids, labels, mask = _padded(rows, device)
        logits = model(input_ids=ids, attention_mask=mask).logits
        loss = torch.nn.functional.cross_entropy(
            logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100
        )
        loss.backward()
        optimizers[name].step()
        optimizers[name].zero_grad(set_to_none=True)
        return loss.item()

    return step


def _padded(rows: list[dict], device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """input_ids, labels and attention_mask of ``rows``, right-padded to the longest."""
    width = max(len(r["input_ids"]) for r in rows)

    def pad(values: list[int], fill: int) -> list[int]:
        return values + [fill] * (width - len(values))

    ids = torch.tensor([pad(r["input_ids"], 0) for r in rows], device=device)
    labels = torch.tensor([pad(r["labels"], -100) for r in rows], device=device)
    mask = torch.tensor([pad([1] * len(r["input_ids"]), 0) for r in rows], device=device)
    return ids, labels, mask


# ----------------------------------------------------------------------------- the engine


def run_engine(
    folder: Path, batches, args: argparse.Namespace, device, dtype, *, mode: str, fuse: bool, pack_rows: bool
) -> Result:
    from twinkle_server.engine import ModelSpec, ModelWorker

    torch.manual_seed(args.seed)
    spec = ModelSpec(
        model_id=MODEL_ID,
        path=folder,
        device=str(device),
        dtype=dtype_name(dtype),
        max_loras=args.tenants,
        max_length=args.seq,
        random_init=True,
        pack_rows=pack_rows,
        activation_checkpointing=args.activation_checkpointing,
    )
    worker = ModelWorker(spec, fuse=fuse, fusion_wait_s=args.fusion_wait_ms / 1000)
    worker.start()
    try:
        worker.wait_ready(timeout=1800)
        names = [f"tenant{k}" for k in range(args.tenants)]
        for name in names:
            worker.create_run(name, lora=dict(LORA), seed=args.seed).result()
            worker.submit(name, "set_optimizer", name="AdamW", lr=LR).result()

        def step(tenant: int, rows: list[dict]) -> float:
            loss = worker.submit(names[tenant], "forward_backward", inputs=rows).result()["loss"]
            worker.submit(names[tenant], "step").result()
            worker.submit(names[tenant], "zero_grad").result()
            return loss

        result = timed(mode, args, device, batches, step, together=True)
        stats = worker.stats()
        if stats.passes:
            print(
                f"  {result.mode}: {stats.passes} passes, {stats.fused_ops / stats.passes:.2f} runs per pass"
            )
        return result
    finally:
        worker.stop()


# ----------------------------------------------------------------------------- through HTTP


class Server:
    """``twinkle-server serve`` in a subprocess on a free port, with one user and key per tenant."""

    def __init__(
        self, folder: Path, root: Path, args: argparse.Namespace, device, *, adapters_per_tenant: int = 1
    ) -> None:
        import yaml

        config = root / "server.yaml"
        served = {
            "model_id": MODEL_ID,
            "path": str(folder),
            "device": str(device),
            "max_loras": args.tenants * adapters_per_tenant,
            "max_length": args.seq,
            "random_init": True,
            "fusion_wait_ms": args.fusion_wait_ms,
            "activation_checkpointing": args.activation_checkpointing,
        }
        settings = {"host": "127.0.0.1", "data_dir": str(root / "data"), "models": [served]}
        config.write_text(yaml.safe_dump(settings), encoding="utf-8")
        self.keys = [create_key(config, f"tenant{k}") for k in range(args.tenants)]
        self.url = f"http://127.0.0.1:{free_port()}"
        log = root / "server.log"
        self.process = launch(config, int(self.url.rsplit(":", 1)[1]), log)
        wait_healthy(self.url, self.process, log)

    def stop(self) -> None:
        stop(self.process)


def run_http(server: Server, batches, args: argparse.Namespace, device, *, together: bool) -> Result:
    with http_trainer(server) as step:
        result = timed("http" if together else "http-alone", args, device, batches, step, together=together)
    print_pass_stats(result.mode, pass_counters(server.url))
    return replace(result, peak_mem_gib=server_peak_gib(server.url))


@contextlib.contextmanager
def http_trainer(server: Server, *, defer_calls: bool = True) -> Iterator[Callable[[int, list[dict]], float]]:
    """``step(tenant, rows) -> loss`` through the server: one client, user and adapter per tenant.

    With ``defer_calls`` (the client's default) ``step`` and ``zero_grad`` travel with the next
    ``forward_backward``; without, each call is a request of its own."""
    from peft import LoraConfig

    from twinkle_client import TwinkleClient
    from twinkle_client.model import MultiLoraTransformersModel

    clients = [TwinkleClient(server.url, key, defer_calls=defer_calls) for key in server.keys]
    models = []
    try:
        for k, client in enumerate(clients):
            model = MultiLoraTransformersModel(MODEL_ID, client=client)
            model.add_adapter_to_model(f"tenant{k}", LoraConfig(**LORA))
            model.set_optimizer("AdamW", lr=LR)
            models.append(model)

        def step(tenant: int, rows: list[dict]) -> float:
            model = models[tenant]
            loss = model.forward_backward(inputs=rows).loss
            model.step()
            model.zero_grad()
            return loss

        yield step
    finally:
        for client in clients:
            client.close()


def server_samples(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The server's ``/metrics`` (open to loopback): each sample's value by name and labels."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{url}/metrics", timeout=30).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def server_peak_gib(url: str) -> float | None:
    """The server's peak device memory since it started, model included (CUDA only)."""
    peaks = [
        value
        for (name, labels), value in server_samples(url).items()
        if name == "twinkle_device_memory_bytes" and ("kind", "peak_allocated") in labels
    ]
    return max(peaks) / 2**30 if peaks else None


PASS_COUNTERS = ("passes", "fused_ops", "pass_seconds", "pass_positions", "fusion_wait_seconds")


def pass_counters(url: str) -> dict[str, float]:
    """The server's pass counters (totals since it started), by their short names."""
    counters = dict.fromkeys(PASS_COUNTERS, 0.0)
    for (name, _), value in server_samples(url).items():
        short = name.removeprefix("twinkle_").removesuffix("_total")
        if name.startswith("twinkle_") and short in counters:
            counters[short] += value
    return counters


def print_pass_stats(mode: str, counters: dict[str, float]) -> None:
    """Pass counters (``pass_counters``, or the difference of two), as the engine modes print them."""
    passes = counters["passes"]
    if passes:
        per_pass = counters["fused_ops"] / passes
        seconds, waited = counters["pass_seconds"], counters["fusion_wait_seconds"]
        print(
            f"  {mode}: {passes:.0f} passes, {per_pass:.2f} runs per pass, "
            f"{counters['pass_positions'] / seconds:.0f} positions/s in passes, "
            f"{seconds:.1f} s in passes and {waited:.1f} s waiting for partners"
        )


# ----------------------------------------------------------------------------- report


def report(args: argparse.Namespace, device: torch.device, dtype, results: dict[str, Result]) -> str:
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({os.cpu_count()} cores)"
    lines = [
        f"model {args.model} (random init)  tenants {args.tenants}  steps {args.steps}  batch {args.batch}x"
        f"{_lengths(args)}  {where}  {dtype_name(dtype)}  torch {torch.__version__}  "
        f"OMP_WAIT_POLICY={args.omp_wait_policy}",
        f"{'mode':<14}{'tokens/s':>12}{'seconds':>10}{'peak GiB':>10}{'mean loss':>11}{'vs peft':>9}",
    ]
    peft = results.get("peft")
    for r in results.values():
        mem = f"{r.peak_mem_gib:.2f}" if r.peak_mem_gib is not None else "n/a"
        ratio = f"{r.tokens_per_s / peft.tokens_per_s:.2f}x" if peft else "n/a"
        lines.append(
            f"{r.mode:<14}{r.tokens_per_s:>12.0f}{r.seconds:>10.2f}{mem:>10}{r.mean_loss:>11.4f}{ratio:>9}"
        )
    pairs = (("fused", "round-robin"), ("fused", "fused-padded"), ("http", "http-alone"), ("http", "fused"))
    for a, b in pairs:
        if a in results and b in results:
            lines.append(f"{a} / {b}: {results[a].tokens_per_s / results[b].tokens_per_s:.2f}x")
    return "\n".join(lines)


def _lengths(args: argparse.Namespace) -> str:
    return str(args.seq) if args.min_seq == args.seq else f"[{args.min_seq}..{args.seq}]"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=["tiny", "small", "0.5b", "7b"], default="small")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per tenant (after one warm-up)")
    parser.add_argument("--batch", type=int, default=1, help="rows per micro-batch")
    parser.add_argument("--seq", type=int, default=64, help="tokens per row")
    parser.add_argument(
        "--min-seq", type=int, help="shortest row; rows draw their length from [min-seq, seq] (default: seq)"
    )
    parser.add_argument("--tenants", type=int, default=4, help="LoRA adapters trained side by side")
    parser.add_argument(
        "--modes", default=",".join(MODES), help=f"comma-separated subset of {', '.join(MODES)}"
    )
    parser.add_argument("--device", default="auto", help="auto, cuda, cuda:N or cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--fusion-wait-ms",
        type=float,
        default=20.0,
        help="how long a pass may wait for tenants due at its pace",
    )
    parser.add_argument(
        "--omp-wait-policy",
        choices=["default", "PASSIVE", "ACTIVE"],
        default="default",
        help="OpenMP's idle-thread policy for every mode, servers included: default (OpenMP's own: "
        "spin a while, then sleep), PASSIVE (sleep at once) or ACTIVE (spin)",
    )
    parser.add_argument(
        "--activation-checkpointing",
        action="store_true",
        help="the engine and server modes recompute decoder layers in the backward (less memory)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name in ("steps", "batch", "seq", "tenants"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    args.min_seq = args.seq if args.min_seq is None else args.min_seq
    if not 1 <= args.min_seq <= args.seq:
        parser.error("--min-seq must be between 1 and --seq")
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = sorted(set(args.modes) - set(MODES))
    if unknown:
        parser.error(f"unknown mode(s) {', '.join(unknown)}; choose from {', '.join(MODES)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device = pick_device(args.device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    if args.child:
        results = {args.modes[0]: _run_mode(args.modes[0], args, device, dtype)}
    else:
        # One fresh process per mode: a mode run after another in the same process inherits its
        # allocator and thread-pool state, which moved figures by up to 2x on a CPU. Each starts
        # with the same OpenMP policy (read when torch loads), the servers included.
        if args.omp_wait_policy == "default":
            os.environ.pop("OMP_WAIT_POLICY", None)
        else:
            os.environ["OMP_WAIT_POLICY"] = args.omp_wait_policy
        results = {mode: _run_isolated(mode, argv) for mode in args.modes}
    print(report(args, device, dtype, results))
    if args.json:
        payload = {
            "args": vars(args) | {"json": str(args.json)},
            "results": [asdict(r) for r in results.values()],
        }
        args.json.write_text(json.dumps(payload, indent=2))
    bad = [r.mode for r in results.values() if not math.isfinite(r.mean_loss)]
    if bad:
        print(f"non-finite loss in: {', '.join(bad)}")
        return 1
    return 0


def _run_mode(mode: str, args: argparse.Namespace, device: torch.device, dtype: torch.dtype) -> Result:
    with tempfile.TemporaryDirectory(prefix="twinkle-bench-") as tmp:
        folder = model_folder(args.model, Path(tmp))
        vocab = json.loads((folder / "config.json").read_text())["vocab_size"]
        batches = make_batches(vocab, args)
        if mode == "peft":
            return run_peft(folder, batches, args, device, dtype)
        if mode in ("round-robin", "fused", "fused-padded"):
            fuse, pack_rows = mode != "round-robin", mode != "fused-padded"
            return run_engine(folder, batches, args, device, dtype, mode=mode, fuse=fuse, pack_rows=pack_rows)
        server = Server(folder, Path(tmp), args, device)
        try:
            return run_http(server, batches, args, device, together=mode == "http")
        finally:
            server.stop()


def _run_isolated(mode: str, argv: list[str] | None) -> Result:
    """Run one mode in a child process of this script and read its figures back."""
    import subprocess

    with tempfile.TemporaryDirectory(prefix="twinkle-bench-") as tmp:
        out = Path(tmp) / "result.json"
        rest = list(sys.argv[1:] if argv is None else argv)
        rest = _without_option(_without_option(rest, "--modes"), "--json")
        command = [sys.executable, __file__, *rest, "--modes", mode, "--json", str(out), "--child"]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"mode {mode} failed:\n{done.stderr[-3000:]}")
        for line in done.stdout.splitlines():
            if line.startswith("  "):  # the engine's pass statistics
                print(line)
        return Result(**json.loads(out.read_text())["results"][0])


def _without_option(argv: list[str], name: str) -> list[str]:
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == name:
            skip = True
        elif not arg.startswith(f"{name}="):
            out.append(arg)
    return out


# ----------------------------------------------------------------------------- helpers


def pick_device(arg: str) -> torch.device:
    if arg == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(arg)


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory(device: torch.device) -> float | None:
    """Peak device memory of this process (CUDA only; the HTTP modes read the server's instead)."""
    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 2**30


if __name__ == "__main__":
    raise SystemExit(main())
