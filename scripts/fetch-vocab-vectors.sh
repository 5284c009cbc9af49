#!/usr/bin/env bash
# fetch-vocab-vectors.sh — llama.cpp's tokenizer test vectors (models/ggml-vocab-*.gguf
# with their .inp/.out files) from the llama-cpp-python source distribution on PyPI,
# into an ignored cache folder (default .cache/llama-vocab). Nothing is committed;
# Tests/RTXTests/VocabVectorTests.swift runs them when the folder exists.
#   scripts/fetch-vocab-vectors.sh [DEST]
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=${1:-.cache/llama-vocab}
PYTHON=${PYTHON:-python3}
if compgen -G "$DEST/ggml-vocab-*.gguf.out" > /dev/null; then
    echo "vocab vectors already in $DEST"
    exit 0
fi
mkdir -p "$DEST/sdist"
"$PYTHON" -m pip download --quiet --no-deps --no-binary :all: llama-cpp-python -d "$DEST/sdist"
SDIST=$(ls -t "$DEST"/sdist/llama_cpp_python-*.tar.gz | head -1)
tar -xzf "$SDIST" -C "$DEST" --strip-components=4 --wildcards '*/vendor/llama.cpp/models/ggml-vocab-*'
echo "$(ls "$DEST"/ggml-vocab-*.gguf | wc -l) vocabularies from $(basename "$SDIST") in $DEST"
