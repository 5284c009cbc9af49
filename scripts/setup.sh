#!/usr/bin/env bash
# setup.sh — install what RTX needs on a fresh Debian machine (idempotent):
# system libraries (OpenBLAS, LAPACKE, LLVM OpenMP, pkg-config) and the Python
# packages the bindings and tests use.
set -euo pipefail
need=()
for pkg in libopenblas-dev liblapacke-dev libomp-dev pkg-config; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
PY=${PYTHON:-python3}
missing=$($PY - <<'PYEOF'
import importlib.util
mods = {"numpy": "numpy", "gguf": "gguf", "tokenizers": "tokenizers", "pytest": "pytest", "safetensors": "safetensors",
        # Uptraining tests: torch 2.13.0's CPU wheel (pip's find-links folder on these
        # machines has it; PyPI's default build would pull the CUDA libraries).
        "torch": "torch==2.13.0", "matplotlib": "matplotlib",
        # rtx-server's tests and bench/serve_load.py: the official OpenAI client.
        "openai": "openai"}
print(" ".join(pkg for mod, pkg in mods.items() if importlib.util.find_spec(mod) is None))
PYEOF
)
if [ -n "$missing" ]; then
    $PY -m pip install -q --disable-pip-version-check $missing
fi
