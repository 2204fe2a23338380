"""`python -m codegen [--check] [--spec PATH] [--out DIR]`.

Without --check, regenerates generated/twinkle_api_client and generated/twinkle_api_server
from the spec. With --check, regenerates into a temporary folder and exits 1, naming the
files, when generated/ differs (CI runs this so nobody edits generated/ by hand).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .generate import ROOT, GenerationError, check, write


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m codegen", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when generated/ is out of date")
    parser.add_argument("--spec", type=Path, default=ROOT / "openapi.yaml", help="the OpenAPI document")
    parser.add_argument("--out", type=Path, default=ROOT / "generated", help="the generated/ folder")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        if args.check:
            diffs = check(args.spec, args.out)
            if diffs:
                print(f"generated/ is out of date with {args.spec.name} ({len(diffs)} files differ):")
                for path in diffs:
                    print(f"  {args.out / path}")
                print("Run `python -m codegen` and commit the result; never edit generated/ by hand.")
                return 1
            print(f"generated/ is up to date with {args.spec.name} ({time.perf_counter() - started:.1f}s)")
            return 0
        write(args.spec, args.out)
    except GenerationError as exc:
        print(f"codegen failed: {exc}", file=sys.stderr)
        return 2
    print(f"generated {args.out} from {args.spec.name} in {time.perf_counter() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
