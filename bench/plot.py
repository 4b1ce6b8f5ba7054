#!/usr/bin/env python3
"""Collects `cargo bench --bench kernels` results from target/criterion into bench/results.csv,
prints them as a Markdown table (GB/s, median), and draws bench/results.png: GB/s per shape for
each path against the read/copy roofline. Usage: python3 bench/plot.py [--no-png]"""

import csv
import glob
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CRITERION = os.path.join(ROOT, "target", "criterion")
CSV = os.path.join(ROOT, "bench", "results.csv")
PNG = os.path.join(ROOT, "bench", "results.png")
PATHS = ["scalar", "wide", "avx2", "avx512"]
OPS = ["forward", "backward", "fused"]


def collect():
    rows = []
    for bench in glob.glob(os.path.join(CRITERION, "*", "*", "new", "benchmark.json")):
        with open(bench) as f:
            meta = json.load(f)
        with open(os.path.join(os.path.dirname(bench), "estimates.json")) as f:
            est = json.load(f)
        op, path, threads = meta["function_id"].split("/")
        ns = est["median"]["point_estimate"]
        nbytes = meta["throughput"]["Bytes"]
        rows.append({"shape": meta["group_id"], "op": op, "path": path, "threads": int(threads[1:]),
                     "median_ns": ns, "bytes": nbytes, "gb_s": nbytes / ns})
    def key(r):
        n, c = r["shape"].split("x")
        return (int(n) * int(c), int(c), r["threads"], r["op"], r["path"])
    rows.sort(key=key)
    return rows


def table(rows):
    by = {(r["shape"], r["threads"], r["op"], r["path"]): r for r in rows}
    shapes = []
    for r in rows:
        if (r["shape"], r["threads"]) not in shapes:
            shapes.append((r["shape"], r["threads"]))
    print("| shape | thr | read GB/s | copy GB/s | " + " | ".join(
        f"{op} {p}" for op in OPS for p in PATHS) + " |")
    print("|" + "---|" * (4 + len(OPS) * len(PATHS)))
    for shape, t in shapes:
        cells = []
        for op in ["read", "copy"]:
            r = by.get((shape, t, op, "roof"))
            cells.append(f"{r['gb_s']:.1f}" if r else "")
        for op in OPS:
            for p in PATHS:
                r = by.get((shape, t, op, p))
                cells.append(f"{r['gb_s']:.1f}" if r else "")
        print(f"| {shape} | {t} | " + " | ".join(cells) + " |")


def plot(rows):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(3, 1, figsize=(14, 13), sharex=True)
    labels = []
    for r in rows:
        lab = f"{r['shape']} t{r['threads']}"
        if lab not in labels:
            labels.append(lab)
    x = range(len(labels))
    by = {(f"{r['shape']} t{r['threads']}", r["op"], r["path"]): r["gb_s"] for r in rows}
    for ax, op in zip(axes, OPS):
        roof = "read" if op == "forward" else "copy"
        ax.plot(x, [by.get((l, roof, "roof"), float("nan")) for l in labels], "k--", lw=2,
                label=f"{roof} loop (roofline)")
        for p in PATHS:
            ax.plot(x, [by.get((l, op, p), float("nan")) for l in labels], "o-", label=p)
        ax.set_ylabel("GB/s")
        ax.set_yscale("log")
        ax.set_title(f"{op} (f32, p=1, mean): GB/s per shape, bytes {'read' if op == 'forward' else 'read + written'}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    axes[-1].set_xticks(list(x))
    axes[-1].set_xticklabels(labels, rotation=60, ha="right", fontsize=8)
    fig.tight_layout()
    fig.savefig(PNG, dpi=90)
    print(f"wrote {PNG}")


def main():
    rows = collect()
    if not rows:
        sys.exit("no results in target/criterion: run `cargo bench --bench kernels` first")
    with open(CSV, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {CSV} ({len(rows)} rows)")
    table(rows)
    if "--no-png" not in sys.argv:
        plot(rows)


if __name__ == "__main__":
    main()
