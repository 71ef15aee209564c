#!/usr/bin/env python3
"""Writes a `blis observe` trace (TraceV2 `trace.csv`) as the per-request CSV
`loopcap calibrate` reads: sent_s, first_token_s, last_token_s (seconds from
the first request sent), input_tokens (the server's count), output_tokens.

    python3 scripts/blis-trace-to-csv.py TRACE.csv OUT.csv

Only requests whose status is `ok` are written; the count of the others is
printed. A development tool: loopcap does not run it.
"""
import csv
import sys


def main(source, out):
    with open(source, newline="") as f:
        rows = list(csv.DictReader(f))
    ok = [r for r in rows if r["status"] == "ok"]
    origin = min(int(r["send_time_us"]) for r in ok)
    ok.sort(key=lambda r: (int(r["send_time_us"]), int(r["request_id"])))

    def seconds(r, key):
        return "%.6f" % ((int(r[key]) - origin) / 1e6)

    with open(out, "w") as f:
        f.write("sent_s,first_token_s,last_token_s,input_tokens,output_tokens\n")
        for r in ok:
            f.write(",".join([
                seconds(r, "send_time_us"),
                seconds(r, "first_chunk_time_us"),
                seconds(r, "last_chunk_time_us"),
                r["server_input_tokens"],
                r["output_tokens"],
            ]) + "\n")
    print(f"{out}: {len(ok)} requests written, {len(rows) - len(ok)} not ok left out")


if __name__ == "__main__":
    main(*sys.argv[1:3])
