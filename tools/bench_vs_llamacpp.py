#!/usr/bin/env python3
"""actinfer beside llama.cpp's llama-bench in one run: prompt (pp), decode at depths
(tg @ d) and decode on a busy machine (one CPU-bound competitor at nice 19).

Each measurement alternates the two engines, repeat by repeat, and reports medians and
their ratio; the busy ratio is the median of each engine's busy/quiet ratios, a quiet and
a busy run of both engines per repeat.
Nothing is built here: pass llama.cpp's llama-bench binary (--llama-bench or $LLAMA_BENCH).
Builds of llama-bench from before mid 2025 have no -d: decode at depth is then measured with
llama.cpp's llama-batched-bench (beside llama-bench, or --llama-batched-bench), whose S_TG is
the same measurement (n tokens decoded after a prompt of d, one sequence, f16 cache).

  tools/bench_vs_llamacpp.py -m models/SmolLM2-135M-Instruct.Q4_1.gguf \
      --llama-bench /path/to/llama-bench --pp 512,4096 --tg 128 --depths 0,1024,4096 --busy -r 3 -o md
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def llama_bench(args, n_prompt, n_gen, depth):
    cmd = [args.llama_bench, "-m", args.model, "-t", str(args.threads), "-r", "1", "-o", "json",
           "-p", str(n_prompt), "-n", str(n_gen)]
    if depth:  # older llama-bench builds have no -d (see llama_bench_has_depth)
        cmd += ["-d", str(depth)]
    if args.no_mmap:
        cmd += ["-mmp", "0"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return float(json.loads(out)[0]["avg_ts"])


def actinfer_bench(args, n_prompt, n_gen, depth):
    cmd = [args.actinfer, "bench", "-m", args.model, "-t", str(args.threads), "-r", "1", "-o", "json", "-q",
           "--compare", args.runtime, "-p", str(n_prompt), "-n", str(n_gen), "-d", str(depth),
           "--bandwidth-mib", "16", "--cache-type", args.cache_type] + (["--no-mmap"] if args.no_mmap else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    row = json.loads(out)[0]
    speed = float(row["prompt_tokens_per_s"] if n_prompt else row["decode_tokens_per_s"])
    # A float model's prompt roofline: the FMA peak actinfer measured in this run over the prompt's
    # FLOPs per token (the same work for both engines: llama.cpp's is no smaller). Quantized
    # matrices multiply in integer dot products, whose peak is another: no roofline for them.
    flops = float(row.get("prompt_flops_per_token", 0))
    floats = row.get("float_weights", False)
    return speed, (float(row["fma_peak_flops_per_s"]) / flops if n_prompt and flops > 0 and floats else None)


def llama_batched_depth(args, n_gen, depth):
    """llama-batched-bench's decode speed after a prompt of `depth` tokens (one sequence)."""
    cmd = [args.llama_batched_bench, "-m", args.model, "-t", str(args.threads), "-c", str(depth + n_gen + 64),
           "-b", "2048", "-ub", "512", "-npp", str(depth), "-ntg", str(n_gen), "-npl", "1", "--output-format", "jsonl"]
    if args.no_mmap:
        cmd += ["--no-mmap"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    if not rows:
        raise RuntimeError("llama-batched-bench printed no jsonl row: " + " ".join(cmd))
    return float(rows[-1]["speed_tg"])


def llama_bench_has_depth(path):
    """Whether this llama-bench takes -d (builds from before mid 2025 do not)."""
    out = subprocess.run([path, "--help"], capture_output=True, text=True)
    return "-d, --n-depth" in out.stdout + out.stderr


def paired(args, n_prompt, n_gen, depth):
    """Medians of alternated runs: (llama.cpp, actinfer, compute roofline t/s); llama.cpp None
    where its llama-bench cannot run at this depth, the roofline None for decode."""
    batched = depth > 0 and not args.llama_depth and args.llama_batched_bench
    skip_llama = depth > 0 and not args.llama_depth and not batched
    a, b, roofs = [], [], []
    for _ in range(args.repeats):
        if batched:
            a.append(llama_batched_depth(args, n_gen, depth))
        elif not skip_llama:
            a.append(llama_bench(args, n_prompt, n_gen, depth))
        speed, roof = actinfer_bench(args, n_prompt, n_gen, depth)
        b.append(speed)
        if roof:
            roofs.append(roof)
    return ((None if skip_llama else statistics.median(a)), statistics.median(b),
            statistics.median(roofs) if roofs else None)


def busy_ratios(args):
    """Each engine's decode beside one nice-19 CPU-bound competitor over its quiet decode. Each
    repeat runs both engines quiet, then both busy, and takes each engine's busy/quiet ratio
    there: the host drifts over minutes (other tenants), less within one repeat. Returns per
    engine (median ratio, median quiet t/s, median busy t/s): llama.cpp's, then actinfer's."""
    quiet, busy = ([], []), ([], [])
    for _ in range(args.repeats):
        quiet[0].append(llama_bench(args, 0, args.busy_tg, 0))
        quiet[1].append(actinfer_bench(args, 0, args.busy_tg, 0)[0])
        hog = subprocess.Popen(["nice", "-n", "19", sys.executable, "-c", "while True: pass"])
        try:
            time.sleep(1)
            busy[0].append(llama_bench(args, 0, args.busy_tg, 0))
            busy[1].append(actinfer_bench(args, 0, args.busy_tg, 0)[0])
        finally:
            hog.kill()
            hog.wait()
    return [(statistics.median(b / q for b, q in zip(busy[e], quiet[e])), statistics.median(quiet[e]),
             statistics.median(busy[e])) for e in (0, 1)]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-m", "--model", default="models/SmolLM2-135M-Instruct.Q4_1.gguf")
    p.add_argument("--llama-bench", default=os.environ.get("LLAMA_BENCH", ""))
    p.add_argument("--llama-batched-bench", default="",
                   help="llama-batched-bench for depth rows where llama-bench has no -d (default: beside llama-bench)")
    p.add_argument("--actinfer", default="build/actinfer")
    p.add_argument("-t", "--threads", type=int, default=os.cpu_count())
    p.add_argument("-r", "--repeats", type=int, default=3)
    p.add_argument("--pp", default="512", help="prompt lengths, comma list (empty: none)")
    p.add_argument("--tg", type=int, default=128, help="decoded tokens per decode run (0: none)")
    p.add_argument("--depths", default="0", help="context depths of the decode runs, comma list")
    p.add_argument("--busy", action="store_true", help="also decode beside one nice-19 CPU-bound process")
    p.add_argument("--busy-tg", type=int, default=64)
    p.add_argument("--runtime", choices=["dense", "actors"], default="actors")
    p.add_argument("--cache-type", choices=["f32", "f16"], default="f16", help="actinfer's KV cache (llama-bench's default is f16)")
    p.add_argument("--no-mmap", action="store_true",
                   help="both engines read the model into memory (actinfer --no-mmap: huge pages; llama-bench -mmp 0)")
    p.add_argument("-o", "--output", choices=["text", "md"], default="text")
    args = p.parse_args()
    if not args.llama_bench or not os.access(args.llama_bench, os.X_OK):
        sys.exit("bench_vs_llamacpp: give llama.cpp's llama-bench with --llama-bench PATH or $LLAMA_BENCH")
    if not os.path.isfile(args.model):
        sys.exit(f"bench_vs_llamacpp: no model file {args.model}")
    args.llama_depth = llama_bench_has_depth(args.llama_bench)
    if not args.llama_batched_bench:
        sibling = os.path.join(os.path.dirname(args.llama_bench), "llama-batched-bench")
        args.llama_batched_bench = sibling if os.access(sibling, os.X_OK) else ""
    if not args.llama_depth and any(int(x) > 0 for x in args.depths.split(",") if x):
        if args.llama_batched_bench:
            print(f"bench_vs_llamacpp: this llama-bench has no -d: llama.cpp's depth rows come from {args.llama_batched_bench}",
                  file=sys.stderr)
        else:
            print("bench_vs_llamacpp: this llama-bench has no -d and no llama-batched-bench was found: "
                  "depths above 0 are measured for actinfer only", file=sys.stderr)

    rows = []  # (test, llama.cpp, actinfer, compute roofline)
    for n in [int(x) for x in args.pp.split(",") if x]:
        rows.append((f"pp{n}",) + paired(args, n, 0, 0))
    if args.tg:
        for d in [int(x) for x in args.depths.split(",") if x]:
            rows.append((f"tg{args.tg} @ d{d}",) + paired(args, 0, args.tg, d))
    busy = busy_ratios(args) if args.busy else None

    model = os.path.basename(args.model)
    if args.output == "md":
        print(f"| {model}, {args.threads} threads | llama.cpp t/s | actinfer ({args.runtime}) t/s | actinfer / llama.cpp "
              "| FMA-peak roofline t/s: llama.cpp, actinfer at % |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for test, a, b, roof in rows:
            at_roof = "" if roof is None else f"{roof:.1f}: {'n/a' if a is None else f'{100 * a / roof:.0f}'}%, {100 * b / roof:.0f}%"
            print(f"| {test} | {'n/a' if a is None else f'{a:.1f}'} | {b:.1f} | {'n/a' if a is None else f'{b / a:.2f}'} | {at_roof} |")
        if busy:
            (ra, qa, ba), (rb, qb, bb) = busy
            print(f"| tg{args.busy_tg} beside a nice-19 process: busy/quiet | {ra:.2f} ({ba:.1f}/{qa:.1f}) | "
                  f"{rb:.2f} ({bb:.1f}/{qb:.1f}) | {rb / ra:.2f} | |")
    else:
        for test, a, b, roof in rows:
            at_roof = "" if roof is None else f"  (FMA-peak roofline {roof:.1f} t/s)"
            if a is None:
                print(f"{model} {test:16s} llama.cpp      n/a  actinfer {b:8.1f} t/s{at_roof}")
            else:
                print(f"{model} {test:16s} llama.cpp {a:8.1f}  actinfer {b:8.1f} t/s  ratio {b / a:.2f}{at_roof}")
        if busy:
            (ra, qa, ba), (rb, qb, bb) = busy
            print(f"{model} busy/quiet decode: llama.cpp {ra:.2f} ({ba:.1f}/{qa:.1f}), actinfer {rb:.2f} ({bb:.1f}/{qb:.1f})")


if __name__ == "__main__":
    main()
