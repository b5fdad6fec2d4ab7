#!/usr/bin/env python3
"""Summary of `cargo bench --bench validation`: for each algorithm and token kind, the full
validation time (rules + single-use store insert) over the raw `ring` verify of the same
signature, measured in the same run, from criterion's estimates.json files.

    python3 benches/ratio.py [CRITERION_DIR]    # default: $CARGO_TARGET_DIR/criterion or
                                                # target/criterion

First the paired ratios (target/criterion/paired.json, written by the same bench: rounds of
full validations and raw verifies interleaved, robust to a machine whose load changes), then
criterion's own estimates, then the other groups (parts, params, path) as plain times.
Targets: full / ring <= 1.3 for ES256 and <= 1.5 for RS256.
"""
import json
import os
import sys

TARGETS = {"ES256": 1.3, "RS256": 1.5}
ALGS = ["RS256", "PS256", "ES256", "EdDSA"]


def estimate(path):
    with open(path) as f:
        data = json.load(f)
    return data["median"]["point_estimate"], data["mean"]["point_estimate"]


def find(base, *parts):
    path = os.path.join(base, *parts, "new", "estimates.json")
    return estimate(path) if os.path.exists(path) else None


def fmt_ns(ns):
    if ns >= 1000:
        return f"{ns / 1000:.2f} µs"
    return f"{ns:.0f} ns"


def main():
    default = os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "criterion")
    base = sys.argv[1] if len(sys.argv) > 1 else default
    if not os.path.isdir(base):
        sys.exit(f"ratio.py: no criterion output in {base}; run cargo bench --bench validation")
    paired_path = os.path.join(base, "paired.json")
    if os.path.exists(paired_path):
        with open(paired_path) as f:
            paired = json.load(f)
        print("Paired (interleaved rounds of about 4 ms; the ratio the targets are judged on):")
        print()
        print("| token | alg | full validation | raw ring verify | overhead | ratio full / ring "
              "(median of rounds) | p25–p75 | target |")
        print("|---|---|---:|---:|---:|---:|---|---|")
        for r in paired:
            target = TARGETS.get(r["alg"])
            verdict = ""
            if target:
                met = r["ratio_median"] <= target
                verdict = f"≤ {target}: {'met' if met else 'NOT met'}"
            print(f"| {r['kind'].replace('_', ' ')} | {r['alg']} | {fmt_ns(r['full_ns_median'])} "
                  f"| {fmt_ns(r['ring_ns_median'])} "
                  f"| {fmt_ns(r['full_ns_median'] - r['ring_ns_median'])} "
                  f"| {r['ratio_median']:.3f} | {r['ratio_p25']:.3f}–{r['ratio_p75']:.3f} "
                  f"| {verdict} |")
        print()
        print("Criterion (each benchmark measured on its own, a few seconds apart):")
        print()
    print("| token | alg | full validation (median) | raw ring verify (median) "
          "| overhead (full − ring) | ratio full / ring (median) | ratio (mean) | target |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for kind in ("assertion", "request_object"):
        for alg in ALGS:
            full, ring = find(base, kind, "full", alg), find(base, kind, "ring", alg)
            if not full or not ring:
                continue
            ratio, ratio_mean = full[0] / ring[0], full[1] / ring[1]
            target = TARGETS.get(alg)
            verdict = ""
            if target:
                verdict = f"≤ {target}: {'met' if ratio <= target else 'NOT met'}"
            print(f"| {kind.replace('_', ' ')} | {alg} | {fmt_ns(full[0])} | {fmt_ns(ring[0])} "
                  f"| {fmt_ns(full[0] - ring[0])} | {ratio:.3f} | {ratio_mean:.3f} | {verdict} |")
    print()
    print("| benchmark | median | mean |")
    print("|---|---:|---:|")
    for group in ("parts", "params", "path"):
        root = os.path.join(base, group)
        if not os.path.isdir(root):
            continue
        for dirpath, _, files in sorted(os.walk(root)):
            if os.path.basename(dirpath) == "new" and "estimates.json" in files:
                name = os.path.relpath(os.path.dirname(dirpath), base)
                median, mean = estimate(os.path.join(dirpath, "estimates.json"))
                print(f"| {name} | {fmt_ns(median)} | {fmt_ns(mean)} |")


if __name__ == "__main__":
    main()
