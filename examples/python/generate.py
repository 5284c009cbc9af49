#!/usr/bin/env python3
# generate.py — load a GGUF model, chat-format a prompt, stream the reply.
#
#   PYTHONPATH=bindings/python python3 examples/python/generate.py [model.gguf] [prompt]
import sys
import time
from pathlib import Path

import rtx

DEFAULT_MODEL = Path(__file__).resolve().parents[2] / ".models" / "SmolLM2-135M-Instruct.Q4_1.gguf"


def main() -> int:
    model_path = sys.argv[1] if len(sys.argv) > 1 else str(DEFAULT_MODEL)
    question = sys.argv[2] if len(sys.argv) > 2 else "Explain in two sentences what a transformer is."

    with rtx.Model(model_path) as model:
        info = model.info
        print(f"rtx {rtx.__version__}: {info.architecture}, {info.n_params / 1e6:.0f}M params, "
              f"{info.n_positions} layers, vocab {info.n_vocab}", file=sys.stderr)
        prompt = model.chat([{"role": "user", "content": question}])
        # The ChatML text already begins with <|im_start|>; don't add another BOS.
        generation = model.generate(prompt, max_tokens=256, temperature=0.7, seed=1234, add_bos=False)
        start = time.perf_counter()
        for piece in generation:
            print(piece, end="", flush=True)
        elapsed = time.perf_counter() - start
        print()
        result = generation.result
        tokens_per_second = result["n_generated"] / result["generate_seconds"] if result["generate_seconds"] else 0.0
        print(f"[{result['n_prompt_tokens']} prompt tokens in {result['prompt_seconds']:.2f} s, "
              f"{result['n_generated']} generated at {tokens_per_second:.1f} tokens/s, "
              f"stop: {getattr(result['stop_reason'], 'name', result['stop_reason'])}, "
              f"wall {elapsed:.2f} s]", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
