# greedy_probe.py — load a model with whichever `rtx` package this interpreter
# imports, generate a few greedy tokens, and print one JSON object that says what
# came out and which librtx.so the process actually mapped.
#   python greedy_probe.py model.gguf
import json
import sys
from pathlib import Path

import rtx

PROMPT = "The capital of France is"
MAX_TOKENS = 8


def mapped_rtx_libraries():
    """Files named librtx* that the dynamic loader mapped into this process."""
    with open("/proc/self/maps") as maps:
        paths = {line.split()[-1] for line in maps if "/librtx" in line}
    return sorted(str(Path(p).resolve()) for p in paths)


def main(model_path: str) -> None:
    with rtx.Model(model_path) as model:
        generation = model.generate(PROMPT, max_tokens=MAX_TOKENS, temperature=0.0, stop_at_eos=False)
        text = "".join(generation)
        report = {
            "prompt": PROMPT,
            "max_tokens": MAX_TOKENS,
            "package_dir": str(Path(rtx.__file__).resolve().parent),
            "library_path": str(Path(rtx.library_path).resolve()),
            "mapped_libraries": mapped_rtx_libraries(),
            "prompt_tokens": model.tokenize(PROMPT, add_bos=True),
            "text": text,
            "completion_tokens": model.tokenize(text),
        }
    json.dump(report, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main(sys.argv[1])
