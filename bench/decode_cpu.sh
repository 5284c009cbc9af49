#!/bin/bash
# decode_cpu.sh — CPU milliseconds per decoded token at 1 thread, for two rtx binaries
# side by side (alternating rounds): robust to time slicing on a shared machine, where
# wall-clock tokens/s is not. Fast mode: (CPU time of `rtx bench --pp 16 --tg 257
# --reps 1` − that of `--tg 1`) / 512 (bench runs reps + 1 generations); batch-invariant
# mode: `rtx generate --batch-invariant -n 257` − `-n 1`, / 256 (greedy: the same tokens).
# Usage: bench/decode_cpu.sh BEFORE_RTX AFTER_RTX [MODEL] [ROUNDS]
set -euo pipefail
before=${1:?usage: decode_cpu.sh BEFORE_RTX AFTER_RTX [MODEL] [ROUNDS]}
after=${2:?usage: decode_cpu.sh BEFORE_RTX AFTER_RTX [MODEL] [ROUNDS]}
model=${3:-.models/SmolLM2-135M-Instruct.Q4_1.gguf}
rounds=${4:-3}
cpu() { /usr/bin/time -f "%U %S" "$@" 2>&1 >/dev/null | tail -1 | awk '{print $1 + $2}'; }
per_token() { python3 -c "print(f'{($2 - $1) / $3 * 1e3:.2f}')" ; }
for round in $(seq "$rounds"); do
    for name in before after; do
        bin=$before; [ "$name" = after ] && bin=$after
        a=$(cpu "$bin" bench -m "$model" --pp 16 --tg 1 --reps 1 --no-limits -t 1)
        b=$(cpu "$bin" bench -m "$model" --pp 16 --tg 257 --reps 1 --no-limits -t 1)
        fast=$(per_token "$a" "$b" 512)
        a=$(cpu "$bin" generate -m "$model" -p "Once upon a time" -n 1 --temp 0 -t 1 --batch-invariant)
        b=$(cpu "$bin" generate -m "$model" -p "Once upon a time" -n 257 --temp 0 -t 1 --batch-invariant)
        echo "round $round $name: fast $fast ms/token, batch-invariant $(per_token "$a" "$b" 256) ms/token"
    done
done
