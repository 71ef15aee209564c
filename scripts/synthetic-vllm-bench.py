#!/usr/bin/env python3
"""Writes a `vllm bench serve --save-result --save-detailed` JSON from a
server whose step costs are known, for `loopcap calibrate` to be checked
against: an implementation of vLLM V1's step loop written apart from
loopcap's (no KV limit, no preemption, no prefix cache).

Each step runs every decoding request's next token and, in admission order,
prompt chunks while the step's token budget lasts; waiting requests are
admitted first come first served while fewer than max_seqs run. A step
lasts base + per_seq * decodes + per_ctx * (tokens the decodes attend to),
when it decodes, plus c0 + c1 * (prompt tokens), when it prefills. A
request's first token comes at the end of the step that finishes its
prompt; each later one at the end of each step after.

    python3 scripts/synthetic-vllm-bench.py --rate 8 --requests 600 --seed 1 > run.json
"""

import argparse
import json
import math
import random


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rate", type=float, default=8.0, help="Poisson requests a second")
    p.add_argument("--requests", type=int, default=600)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--base", type=float, default=0.006)
    p.add_argument("--per-seq", type=float, default=0.00015)
    p.add_argument("--per-ctx", type=float, default=4e-8)
    p.add_argument("--c0", type=float, default=0.004)
    p.add_argument("--c1", type=float, default=4e-5)
    p.add_argument("--budget", type=int, default=2048)
    p.add_argument("--max-seqs", type=int, default=256)
    args = p.parse_args()

    rng = random.Random(args.seed)
    t, arrivals = 0.0, []
    for _ in range(args.requests):
        t += rng.expovariate(args.rate)
        # ShareGPT-like lengths: lognormal prompts and outputs.
        n = max(4, min(8000, int(math.exp(rng.gauss(5.5, 1.0)))))
        m = max(2, min(1500, int(math.exp(rng.gauss(5.0, 0.9)))))
        arrivals.append((t, n, m))

    waiting = list(range(len(arrivals)))  # in arrival order
    running = []  # request ids in admission order
    prefilled = [0] * len(arrivals)
    made = [0] * len(arrivals)
    tokens = [[] for _ in arrivals]  # times of each output token
    now = 0.0
    while waiting or running:
        if not running and arrivals[waiting[0]][0] > now:
            now = arrivals[waiting[0]][0]
        budget = args.budget
        decodes, context, prefill = 0, 0, 0
        chunks = {}
        for r in running:
            n = arrivals[r][1]
            if prefilled[r] == n:
                decodes += 1
                context += n + made[r]
                budget -= 1
        for r in running:
            n = arrivals[r][1]
            if prefilled[r] < n and budget > 0:
                c = min(n - prefilled[r], budget)
                chunks[r] = c
                budget -= c
        while (waiting and arrivals[waiting[0]][0] <= now and budget > 0
               and len(running) < args.max_seqs):
            r = waiting.pop(0)
            running.append(r)
            c = min(arrivals[r][1], budget)
            chunks[r] = c
            budget -= c
        prefill = sum(chunks.values())
        step = 0.0
        if decodes:
            step += args.base + args.per_seq * decodes + args.per_ctx * context
        if prefill:
            step += args.c0 + args.c1 * prefill
        now += step
        still = []
        for r in running:
            n, m = arrivals[r][1], arrivals[r][2]
            if prefilled[r] == n:
                made[r] += 1
                tokens[r].append(now)
            elif r in chunks:
                prefilled[r] += chunks[r]
                if prefilled[r] == n:
                    made[r] += 1
                    tokens[r].append(now)
            if made[r] < m:
                still.append(r)
        running = still

    start = 1000.0  # a perf_counter reading, as vLLM records it
    result = {
        "backend": "vllm",
        "model_id": "synthetic",
        "num_prompts": args.requests,
        "request_rate": args.rate,
        "synthetic_step_costs": {
            "base_s": args.base,
            "per_sequence_s": args.per_seq,
            "per_context_token_s": args.per_ctx,
            "prefill_step_s": args.c0,
            "prefill_per_token_s": args.c1,
            "max_num_batched_tokens": args.budget,
            "max_num_seqs": args.max_seqs,
            "seed": args.seed,
        },
        "input_lens": [n for _, n, _ in arrivals],
        "output_lens": [m for _, _, m in arrivals],
        "ttfts": [tokens[r][0] - a for r, (a, _, _) in enumerate(arrivals)],
        "itls": [[b - a for a, b in zip(ts, ts[1:])] for ts in tokens],
        "start_times": [start + a for a, _, _ in arrivals],
        "errors": ["" for _ in arrivals],
    }
    json.dump(result, __import__("sys").stdout)


if __name__ == "__main__":
    main()
