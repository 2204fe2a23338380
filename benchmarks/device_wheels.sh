#!/usr/bin/env bash
# The server's packages that the GPU machines' image lacks, as wheels for its Python, in .whl/.
#
#   bash benchmarks/device_wheels.sh      # here, where pip reaches the package index
#
# The lent GPU machines (docs/gpu.md) run Python 3.12 on x86-64 with torch, transformers, peft,
# httpx, attrs, pyyaml, prometheus-client, anyio, uvloop, pyarrow and pandas, but no fastapi,
# uvicorn, pydantic, sqlalchemy, datasets or plotly, and nothing can be fetched there. This
# downloads those, at the versions this checkout's .venv holds (the ones its tests pass with), plus
# the transformers and peft this project is tested with (the image's are older). About 30 MB: it
# travels with a device call (`carry: [".whl"]`, 64 MiB at most), and benchmarks/gpu_check.sh
# installs it first when it is there. .whl/ must be ignored by git (`echo /.whl/ >> .git/info/exclude`).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
DEST=${DEST:-.whl}
PACKAGES=(
    fastapi fastapi-offline starlette uvicorn httptools
    pydantic pydantic-core annotated-types typing-inspection
    sqlalchemy greenlet
    datasets dill multiprocess
    plotly
    transformers peft
)
pins=()
for name in "${PACKAGES[@]}"; do
    version=$("$PY" -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$name")
    pins+=("$name==$version")
done
platforms=()
for tag in manylinux_2_28 manylinux_2_27 manylinux_2_17 manylinux2014 manylinux1; do
    platforms+=(--platform "${tag}_x86_64")
done
rm -rf "$DEST" && mkdir -p "$DEST"
"$PY" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    "${platforms[@]}" -d "$DEST" "${pins[@]}"
ls "$DEST"
du -sh "$DEST"
