#!/usr/bin/env python3
"""serve_load.py — load an OpenAI-compatible server: N concurrent clients × M requests.

Every request is a streamed /v1/completions call with a fixed prompt length
(token ids, a different random sequence per request, so no server can reuse a
cached prefix) and a fixed generation length (temperature 0, `ignore_eos`,
which rtx-server and llama-server both honour). For each concurrency level it
reports generated tokens/s over the level's wall time, and the p50/p99 of the
time to first token and of the gaps between tokens as the client sees them.

Works against rtx-server (build/bin/rtx-server) and llama.cpp's llama-server
(bench/build-llama-server.sh); see README "Serving" for the side-by-side run.

Usage: bench/serve_load.py --url http://127.0.0.1:8080 [--model ID] [--concurrency 1,4,16]
         [--requests 4] [--prompt-tokens 64] [--max-tokens 64] [--vocab 32000] [--json FILE]
"""
import argparse
import asyncio
import json
import random
import sys
import time

import openai


def percentile(values, p):
    """Nearest-rank percentile (p in 0..100); None for no values."""
    if not values:
        return None
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100 * len(s) + 0.5)) - 1))
    return s[k]


async def one_request(client, model, prompt, max_tokens, timeout):
    """(ttft_s, [inter-token gaps s], generated tokens) of one streamed completion."""
    t0 = time.perf_counter()
    stream = await client.completions.create(
        model=model, prompt=prompt, max_tokens=max_tokens, temperature=0, stream=True,
        stream_options={"include_usage": True}, extra_body={"ignore_eos": True}, timeout=timeout)
    first, last, gaps, chunks, usage = None, None, [], 0, None
    async for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage.completion_tokens
        if not chunk.choices or not chunk.choices[0].text:
            continue
        now = time.perf_counter()
        if first is None:
            first = now - t0
        else:
            gaps.append(now - last)
        last = now
        chunks += 1
    return first, gaps, usage if usage is not None else chunks


async def level(url, key, model, concurrency, requests, prompt_tokens, max_tokens, vocab, timeout, seed):
    client = openai.AsyncOpenAI(base_url=url.rstrip("/") + "/v1", api_key=key, max_retries=0, timeout=timeout)
    rng = random.Random(seed)
    prompts = [[rng.randrange(1000, vocab) for _ in range(prompt_tokens)] for _ in range(concurrency * requests)]

    async def worker(w):
        out = []
        for r in range(requests):
            out.append(await one_request(client, model, prompts[w * requests + r], max_tokens, timeout))
        return out

    t0 = time.perf_counter()
    results = [x for xs in await asyncio.gather(*(worker(w) for w in range(concurrency))) for x in xs]
    wall = time.perf_counter() - t0
    await client.close()
    ttft = [r[0] for r in results if r[0] is not None]
    gaps = [g for r in results for g in r[1]]
    tokens = sum(r[2] for r in results)
    return {"concurrency": concurrency, "requests": len(results), "generated_tokens": tokens, "wall_s": wall,
            "tokens_per_s": tokens / wall,
            "ttft_p50_ms": 1e3 * percentile(ttft, 50), "ttft_p99_ms": 1e3 * percentile(ttft, 99),
            "itl_p50_ms": 1e3 * percentile(gaps, 50), "itl_p99_ms": 1e3 * percentile(gaps, 99)}


async def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", default="http://127.0.0.1:8080")
    ap.add_argument("--api-key", default="none")
    ap.add_argument("--model", help="model id (default: the first of /v1/models)")
    ap.add_argument("--concurrency", default="1,4,16", help="comma-separated client counts")
    ap.add_argument("--requests", type=int, default=4, help="requests per client (M)")
    ap.add_argument("--prompt-tokens", type=int, default=64)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--vocab", type=int, default=32000, help="prompt token ids are drawn from [1000, VOCAB)")
    ap.add_argument("--warmup", type=int, default=1, help="requests before measuring")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--label", default="", help="a name for the table rows (e.g. rtx, llama-server)")
    ap.add_argument("--json", help="also write the rows here")
    args = ap.parse_args()

    client = openai.AsyncOpenAI(base_url=args.url.rstrip("/") + "/v1", api_key=args.api_key, max_retries=0)
    model = args.model or (await client.models.list()).data[0].id
    for i in range(args.warmup):
        await one_request(client, model, [1000 + i] * args.prompt_tokens, 4, args.timeout)
    await client.close()

    rows = []
    print(f"| server | concurrency | requests | prompt/gen tokens | generated tokens/s | TTFT p50 / p99 ms | inter-token p50 / p99 ms |")
    print("|---|---|---|---|---|---|---|")
    for c in [int(x) for x in args.concurrency.split(",")]:
        row = await level(args.url, args.api_key, model, c, args.requests, args.prompt_tokens, args.max_tokens,
                          args.vocab, args.timeout, args.seed + c)
        row["label"] = args.label
        rows.append(row)
        print(f"| {args.label or model} | {c} | {row['requests']} | {args.prompt_tokens}/{args.max_tokens} | "
              f"{row['tokens_per_s']:.1f} | {row['ttft_p50_ms']:.0f} / {row['ttft_p99_ms']:.0f} | "
              f"{row['itl_p50_ms']:.1f} / {row['itl_p99_ms']:.1f} |", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
