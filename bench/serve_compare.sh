#!/usr/bin/env bash
# serve_compare.sh — rtx-server and llama.cpp's llama-server, one after the
# other, under the same load (bench/serve_load.py: N concurrent clients × M
# streamed completions, fixed prompt and generation lengths, greedy).
#
# Both serve the same GGUF on 127.0.0.1 with the same threads; llama-server
# gets one slot per client of the largest concurrency level (-np) with
# continuous batching, rtx-server the same number of requests in flight.
# llama-server comes from bench/build-llama-server.sh (skipped, with a note,
# when it is not built).
#
# Usage: bench/serve_compare.sh [--model GGUF] [--threads N] [--concurrency 1,4,16]
#          [--requests M] [--prompt-tokens P] [--max-tokens G] [--rtx-args "..."]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODEL="$ROOT/.models/SmolLM2-135M-Instruct.Q4_1.gguf"
THREADS=2
CONCURRENCY=1,4,16
REQUESTS=2
PROMPT=64
GEN=64
RTX_ARGS="--max-rows 64"
LLAMA_SERVER="$ROOT/third_party/llama.cpp-0.3.36/build-server/bin/llama-server"
while [ $# -gt 0 ]; do
    case "$1" in
        --model|-m) MODEL="$2"; shift 2 ;;
        --threads|-t) THREADS="$2"; shift 2 ;;
        --concurrency) CONCURRENCY="$2"; shift 2 ;;
        --requests) REQUESTS="$2"; shift 2 ;;
        --prompt-tokens) PROMPT="$2"; shift 2 ;;
        --max-tokens) GEN="$2"; shift 2 ;;
        --rtx-args) RTX_ARGS="$2"; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
    esac
done
SLOTS=$(tr ',' '\n' <<<"$CONCURRENCY" | sort -n | tail -1)
LOG="$(mktemp -d /tmp/serve-compare.XXXXXX)"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_health() {   # url, pid: bounded wait for /health
    for _ in $(seq 1 300); do
        curl -sf "$1/health" >/dev/null 2>&1 && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.2
    done
    return 1
}
load() { python3 "$ROOT/bench/serve_load.py" --url "$1" --concurrency "$CONCURRENCY" --requests "$REQUESTS" \
             --prompt-tokens "$PROMPT" --max-tokens "$GEN" --label "$2"; }
echo "model $(basename "$MODEL"), $THREADS threads, clients $CONCURRENCY × $REQUESTS requests, prompt $PROMPT / gen $GEN tokens; load average $(cut -d' ' -f1-3 /proc/loadavg); logs in $LOG"

port=$(free_port)
# shellcheck disable=SC2086
"$ROOT/build/bin/rtx-server" -m "$MODEL" --port "$port" -t "$THREADS" --max-queue 256 $RTX_ARGS >"$LOG/rtx.log" 2>&1 &
pid=$!
if wait_health "http://127.0.0.1:$port" $pid; then load "http://127.0.0.1:$port" "rtx-server $RTX_ARGS"; fi
kill -TERM $pid; wait $pid || true

if [ -x "$LLAMA_SERVER" ]; then
    port=$(free_port)
    "$LLAMA_SERVER" -m "$MODEL" --host 127.0.0.1 --port "$port" -t "$THREADS" -tb "$THREADS" -np "$SLOTS" \
        -c $((SLOTS * (PROMPT + GEN + 64))) --cont-batching --no-webui >"$LOG/llama-server.log" 2>&1 &
    pid=$!
    if wait_health "http://127.0.0.1:$port" $pid; then load "http://127.0.0.1:$port" "llama-server -np $SLOTS" | tail -n +3; fi
    kill -TERM $pid; wait $pid || true
else
    echo "llama-server not built (bench/build-llama-server.sh): RTX only"
fi
