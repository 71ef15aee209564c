#!/usr/bin/env python3
"""Writes a `vllm bench serve --save-result --save-detailed` JSON from a
server whose step costs are known, for `loopcap calibrate` to be checked
against: an implementation of vLLM V1's step loop written apart from
loopcap's (no prefix cache).

Each step gives every running request, in admission order, the tokens it
has not computed (one when it decodes; its prompt, or after a preemption
its prompt and output, in chunks) while the step's token budget lasts,
taking KV blocks as they grow; when blocks run out, the latest admitted
request is preempted (its KV freed, recomputed later). Unless one was,
waiting requests are then admitted first come first served while fewer
than max_seqs run and their chunk's blocks are free. A step
lasts base + per_seq * decodes + per_ctx * (tokens the decodes attend to),
when it decodes, plus c0 + c1 * (prompt tokens), when it prefills. A
request's first token comes at the end of the step that finishes its
prompt; each later one at the end of each step after. With
--async-scheduling (vLLM's default since 0.14) each step is planned when
the one before it starts: it admits only requests that arrived by then,
unless nothing else would run.

    python3 scripts/synthetic-vllm-bench.py --rate 8 --requests 600 --seed 1 > run.json
    python3 scripts/synthetic-vllm-bench.py --rate 8 --kv-tokens 14000 --csv > run.csv
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
    p.add_argument("--kv-tokens", type=int, default=0, help="KV cache tokens (0: unbounded)")
    p.add_argument("--block", type=int, default=16)
    p.add_argument("--jitter", type=float, default=0.0,
                   help="each step's cost times a lognormal factor of this sigma (0: exact)")
    p.add_argument("--output-median", type=float, default=148.0, help="output tokens, median")
    p.add_argument("--digits", type=int, default=0, help="round times to this many decimals (0: as computed)")
    p.add_argument("--lengths", type=str, default=None,
                   help="IN,OUT: every prompt IN tokens and every output OUT, as --dataset-name random gives them")
    p.add_argument("--summary", action="store_true",
                   help="the summary --save-result writes without --save-detailed (figures in ms) instead")
    p.add_argument("--async-scheduling", action="store_true",
                   help="plan each step when the one before starts, as vLLM 0.14 on does")
    p.add_argument("--csv", action="store_true",
                   help="a CSV a request a row (sent_s, first_token_s, last_token_s, input_tokens, output_tokens) instead")
    args = p.parse_args()

    rng = random.Random(args.seed)
    t, arrivals = 0.0, []
    for _ in range(args.requests):
        t += rng.expovariate(args.rate)
        # ShareGPT-like lengths: lognormal prompts and outputs.
        n = max(4, min(8000, int(math.exp(rng.gauss(5.5, 1.0)))))
        m = max(2, min(1500, int(args.output_median * math.exp(rng.gauss(0.0, 0.9)))))
        if args.lengths:
            n, m = (int(x) for x in args.lengths.split(","))
        if args.kv_tokens:  # as vLLM refuses a request longer than max_model_len
            n = min(n, args.kv_tokens // 2)
            m = min(m, args.kv_tokens // 2)
        arrivals.append((t, n, m))

    waiting = list(range(len(arrivals)))  # in arrival order; preempted first
    running = []  # request ids in admission order
    computed = [0] * len(arrivals)  # tokens whose KV the server holds
    made = [0] * len(arrivals)
    held = [0] * len(arrivals)  # KV blocks
    tokens = [[] for _ in arrivals]  # times of each output token
    free = args.kv_tokens // args.block if args.kv_tokens else math.inf
    blocks = lambda t: -(-t // args.block)
    known = lambda r: arrivals[r][1] + made[r]
    now, preemptions = 0.0, 0
    last_start = -math.inf  # when the step that just ended started
    while waiting or running:
        if not running and arrivals[waiting[0]][0] > now:
            now = arrivals[waiting[0]][0]
        budget, scheduled, preempted = args.budget, {}, False
        i = 0
        while i < len(running) and budget > 0:
            r = running[i]
            step = min(known(r) - computed[r], budget)
            need = blocks(computed[r] + step) - held[r]
            while need > free and running[-1] != r:
                victim = running.pop()
                free += held[victim]
                held[victim], computed[victim] = 0, 0
                scheduled.pop(victim, None)
                waiting.insert(0, victim)
                preempted, preemptions = True, preemptions + 1
            if need > free:  # r itself is the latest: it waits
                running.pop()
                free += held[r]
                held[r], computed[r] = 0, 0
                waiting.insert(0, r)
                preempted, preemptions = True, preemptions + 1
                break
            free -= need
            held[r] += need
            scheduled[r] = step
            budget -= step
            i += 1
        # Planned ahead, a step admits those that waited when the one
        # before it started; an engine with nothing else to run, anyone.
        cutoffs = [last_start, now] if args.async_scheduling else [now]
        for cutoff in cutoffs:
            if scheduled and cutoff == now and args.async_scheduling:
                break
            while (not preempted and waiting and arrivals[waiting[0]][0] <= cutoff
                   and budget > 0 and len(running) < args.max_seqs):
                r = waiting[0]
                step = min(known(r) - computed[r], budget)
                need = blocks(step)
                if need > free:
                    break
                waiting.pop(0)
                running.append(r)
                free -= need
                held[r] += need
                scheduled[r] = step
                budget -= step
        decodes = [r for r, k in scheduled.items() if made[r] > 0 and known(r) - computed[r] == 1]
        context = sum(computed[r] + 1 for r in decodes)
        prefill = sum(k for r, k in scheduled.items() if r not in decodes)
        cost = 0.0
        if decodes:
            cost += args.base + args.per_seq * len(decodes) + args.per_ctx * context
        if prefill:
            cost += args.c0 + args.c1 * prefill
        if args.jitter:
            cost *= math.exp(rng.gauss(0.0, args.jitter))
        last_start = now
        now += cost
        still = []
        for r in running:
            computed[r] += scheduled.get(r, 0)
            if r in scheduled and computed[r] == known(r):
                made[r] += 1
                tokens[r].append(now)
            if made[r] < arrivals[r][2]:
                still.append(r)
            else:
                free += held[r]
                held[r] = 0
        running = still

    start = 1000.0  # a perf_counter reading, as vLLM records it
    if args.csv:
        print("sent_s,first_token_s,last_token_s,input_tokens,output_tokens")
        for r, (a, n, m) in enumerate(arrivals):
            print(f"{start + a:.6f},{start + tokens[r][0]:.6f},{start + tokens[r][-1]:.6f},{n},{m}")
        return
    if args.summary:
        print_summary(args, arrivals, tokens)
        return
    r6 = (lambda x: round(x, args.digits)) if args.digits else (lambda x: x)
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
            "kv_cache_tokens": args.kv_tokens,
            "block_size": args.block,
            "preemptions": preemptions,
            "seed": args.seed,
            "output_median": args.output_median,
            "jitter": args.jitter,
            "async_scheduling": args.async_scheduling,
        },
        "input_lens": [n for _, n, _ in arrivals],
        "output_lens": [m for _, _, m in arrivals],
        "ttfts": [r6(tokens[r][0] - a) for r, (a, _, _) in enumerate(arrivals)],
        "itls": [[r6(b - a) for a, b in zip(ts, ts[1:])] for ts in tokens],
        "start_times": [start + a for a, _, _ in arrivals],
        "errors": ["" for _ in arrivals],
    }
    json.dump(result, __import__("sys").stdout)


def percentile(values, q):
    """numpy.percentile's default (linear between closest ranks), as vLLM's summary takes it."""
    xs = sorted(values)
    k = (len(xs) - 1) * q / 100.0
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def print_summary(args, arrivals, tokens):
    """The figures vLLM's serve benchmark saves without --save-detailed."""
    ttft = [tokens[r][0] - a for r, (a, _, _) in enumerate(arrivals)]
    e2el = [tokens[r][-1] - a for r, (a, _, _) in enumerate(arrivals)]
    tpot = [(e2el[r] - ttft[r]) / (m - 1) for r, (_, _, m) in enumerate(arrivals) if m > 1]
    itl = [b - a for ts in tokens for a, b in zip(ts, ts[1:])]
    result = {
        "backend": "vllm",
        "model_id": "synthetic",
        "num_prompts": args.requests,
        "request_rate": args.rate,
        "burstiness": 1.0,
        "max_concurrency": None,
        "duration": max(ts[-1] for ts in tokens),
        "completed": len(arrivals),
        "total_input_tokens": sum(n for _, n, _ in arrivals),
        "total_output_tokens": sum(m for _, _, m in arrivals),
    }
    for name, values in (("ttft", ttft), ("tpot", tpot), ("itl", itl), ("e2el", e2el)):
        mean = sum(values) / len(values)
        result[f"mean_{name}_ms"] = 1e3 * mean
        result[f"median_{name}_ms"] = 1e3 * percentile(values, 50)
        result[f"std_{name}_ms"] = 1e3 * math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
        result[f"p99_{name}_ms"] = 1e3 * percentile(values, 99)
    json.dump(result, __import__("sys").stdout)


if __name__ == "__main__":
    main()
