#!/usr/bin/env bash
# test_fresh_venv.sh — the Python package works on its own. Builds a wheel from
# bindings/python, installs it into a fresh venv, runs it from a folder outside
# the repo with no RTX_LIBRARY/PYTHONPATH, and checks that it maps the librtx.so
# bundled in the wheel and generates what the in-repo bindings generate.
#   Tests/packaging/test_fresh_venv.sh [model.gguf]
# Uses build/lib/librtx.so when it is current (setup.py runs `make lib` otherwise).
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
model=$(realpath "${1:-$repo/.models/SmolLM2-135M-Instruct.Q4_1.gguf}")
python=${PYTHON:-python3}
started=$SECONDS
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step() { echo "== $*"; }
fail() { echo "FAILED: $*" >&2; exit 1; }

step "fresh venv in $work/venv"
"$python" -m venv "$work/venv"
venv_python=$work/venv/bin/python

step "build the wheel from bindings/python"
"$venv_python" -m pip wheel --quiet --no-deps --wheel-dir "$work/wheels" "$repo/bindings/python"
wheel=$(echo "$work"/wheels/rtx-*.whl)
[ -f "$wheel" ] || fail "no wheel in $work/wheels"
case $(basename "$wheel") in
    *-none-any.whl) fail "$(basename "$wheel") is tagged pure Python, but it carries a native library" ;;
esac
# The listing first: grep -q would close the pipe at its match, and zipfile's
# broken pipe then fails the pipeline (pipefail) however the wheel looks.
listing=$("$venv_python" -m zipfile -l "$wheel")
grep -q '^rtx/librtx.so ' <<<"$listing" || fail "$(basename "$wheel") holds no rtx/librtx.so"

step "install $(basename "$wheel")"
"$venv_python" -m pip install --quiet "$wheel"

step "run the installed package from a folder outside the repo"
mkdir "$work/elsewhere"
cp "$repo/Tests/packaging/greedy_probe.py" "$work/elsewhere/"
(cd "$work/elsewhere" && env -u RTX_LIBRARY -u PYTHONPATH -u LD_LIBRARY_PATH \
    "$venv_python" greedy_probe.py "$model") > "$work/installed.json"

step "run the in-repo bindings on build/lib/librtx.so"
(cd "$repo" && PYTHONPATH=bindings/python RTX_LIBRARY="$repo/build/lib/librtx.so" \
    "$python" Tests/packaging/greedy_probe.py "$model") > "$work/in_repo.json"

step "compare"
"$python" - "$repo" "$work/installed.json" "$work/in_repo.json" <<'PY'
import json, sys
from pathlib import Path

repo = Path(sys.argv[1]).resolve()
installed = json.loads(Path(sys.argv[2]).read_text())
in_repo = json.loads(Path(sys.argv[3]).read_text())
package_dir = Path(installed["package_dir"])
problems = []
if repo in package_dir.parents:
    problems.append(f"the venv imported rtx from the repo: {package_dir}")
if Path(installed["library_path"]).parent != package_dir:
    problems.append(f"loaded {installed['library_path']}, not the copy in {package_dir}")
if installed["mapped_libraries"] != [installed["library_path"]]:
    problems.append(f"mapped librtx files {installed['mapped_libraries']}, expected only {installed['library_path']}")
if not installed["text"].strip():
    problems.append("the installed package generated no text")
for key in ("prompt_tokens", "text", "completion_tokens"):
    if installed[key] != in_repo[key]:
        problems.append(f"{key}: installed {installed[key]!r} != in-repo {in_repo[key]!r}")
if problems:
    sys.exit("FAILED:\n  " + "\n  ".join(problems))
print(f"installed package: {installed['library_path']}")
print(f"greedy continuation: {installed['text']!r} (same as the in-repo bindings)")
PY
echo "== fresh-venv package test passed in $((SECONDS - started)) s"
