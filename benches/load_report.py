#!/usr/bin/env python3
"""Turns the raw lines of benches/load.sh (bench-out/load/results.txt) into bench-out/load.csv,
bench-out/load.md (printed too) and the chart bench-out/load.png (gnuplot).

    python3 benches/load_report.py bench-out/load/results.txt bench-out
"""
import csv
import os
import subprocess
import sys


def parse(path):
    meta, rows, order = {}, {}, []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            parts = line.split("|")
            if parts[0] == "meta":
                for item in parts[1:]:
                    key, _, value = item.partition("=")
                    meta[key] = value
                continue
            phase, name, fields = parts[0], parts[1], parts[2]
            values = {}
            for item in fields.split():
                key, _, value = item.partition("=")
                try:
                    values[key] = float(value)
                except ValueError:
                    values[key] = value
            if name not in rows:
                rows[name] = {}
                order.append(name)
            rows[name][phase] = values
    return meta, rows, order


def summarise(rows, order):
    out = []
    for name in order:
        sat = rows[name].get("sat", {})
        lat = rows[name].get("lat", {})
        requests = sat.get("requests", 0) or 0
        clk = sat.get("clk_tck", 100) or 100
        cpu_per_k = (sat.get("cpu_ticks", 0) / clk) / requests * 1000 if requests else float("nan")
        up_per_k = (
            (sat.get("upstream_cpu_ticks", 0) / clk) / requests * 1000 if requests else float("nan")
        )
        rate = lat.get("rate", 0)
        achieved = lat.get("rps", 0)
        out.append(
            {
                "setup": name,
                "rps": sat.get("rps", 0),
                "non2xx": int(sat.get("non2xx", 0) + lat.get("non2xx", 0)),
                "socket_errors": int(
                    sat.get("sock_errors", 0) + lat.get("sock_errors", 0)
                    + sat.get("timeouts", 0) + lat.get("timeouts", 0)
                ),
                # Only single-use setups need each line once; the others may reuse lines.
                "pool_wrapped": int(sat.get("wrapped", 0) + lat.get("wrapped", 0))
                if sat.get("single_use", 0)
                else 0,
                "cpu_s_per_1000": cpu_per_k,
                "upstream_cpu_s_per_1000": up_per_k,
                "peak_rss_mib": max(sat.get("hwm_kib", 0), lat.get("hwm_kib", 0)) / 1024,
                "lat_rate": rate,
                "lat_rps": achieved,
                "rate_kept": bool(rate) and achieved >= 0.95 * rate,
                "p50_ms": lat.get("p50_us", float("nan")) / 1000,
                "p99_ms": lat.get("p99_us", float("nan")) / 1000,
                "p999_ms": lat.get("p999_us", float("nan")) / 1000,
                "load_sat": sat.get("load", ""),
            }
        )
    return out


def table(summary, meta):
    lines = [
        "| setup | req/s (saturation) | non-2xx | CPU s / 1000 req | peak RSS MiB "
        f"| p50 ms | p99 ms | p99.9 ms (at {int(float(meta.get('lat_rate', 0)))} req/s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in summary:
        note = "" if r["rate_kept"] else f" (rate not kept: {r['lat_rps']:.0f} req/s)"
        errors = r["non2xx"] + r["socket_errors"]
        flag = "" if r["pool_wrapped"] == 0 else " (pool wrapped: replays)"
        lines.append(
            f"| {r['setup']} | {r['rps']:.0f} | {errors}{flag} | {r['cpu_s_per_1000']:.3f} "
            f"| {r['peak_rss_mib']:.1f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} "
            f"| {r['p999_ms']:.2f}{note} |"
        )
    return "\n".join(lines)


def targets(summary):
    by = {r["setup"]: r for r in summary}
    out = ["| target | measured | met |", "|---|---|---|"]

    def clean(name):
        r = by.get(name)
        return r is not None and r["non2xx"] == 0 and r["socket_errors"] == 0 and r["pool_wrapped"] == 0

    for alg in ("RS256", "ES256"):
        j, h = by.get(f"jargate assertion {alg}"), by.get(f"HAProxy jwt_verify {alg}")
        if j and h and h["rps"]:
            ratio = j["rps"] / h["rps"]
            ok = ratio >= 1.2 and clean(f"jargate assertion {alg}")
            out.append(
                f"| jargate {alg} assertions ≥ 1.2 × HAProxy jwt_verify, all 2xx "
                f"| {j['rps']:.0f} / {h['rps']:.0f} = {ratio:.2f} × (non-2xx {j['non2xx']}) "
                f"| {'yes' if ok else 'no'} |"
            )
    jp, hp = by.get("jargate passthrough"), by.get("HAProxy passthrough")
    if jp and hp and hp["rps"]:
        ratio = jp["rps"] / hp["rps"]
        out.append(
            f"| jargate passthrough ≥ HAProxy passthrough | {jp['rps']:.0f} / {hp['rps']:.0f} = "
            f"{ratio:.2f} × | {'yes' if ratio >= 1 else 'no'} |"
        )
    j = by.get("jargate assertion RS256")
    if j and jp and jp["rps"]:
        ratio = j["rps"] / jp["rps"]
        out.append(
            f"| validated RS256 ≥ 0.6 × jargate passthrough | {j['rps']:.0f} / {jp['rps']:.0f} = "
            f"{ratio:.2f} × | {'yes' if ratio >= 0.6 else 'no'} |"
        )
    if j and jp:
        added = j["p99_ms"] - jp["p99_ms"]
        out.append(
            f"| p99 added by validation ≤ 1 ms at {j['lat_rate']:.0f} req/s (½ RS256 saturation) "
            f"| {j['p99_ms']:.2f} − {jp['p99_ms']:.2f} = {added:.2f} ms | "
            f"{'yes' if added <= 1.0 and j['rate_kept'] else 'no'} |"
        )
    return "\n".join(out)


def chart(summary, out_dir):
    data = os.path.join(out_dir, "load", "chart.dat")
    with open(data, "w") as f:
        for r in summary:
            f.write(f"\"{r['setup']}\" {r['rps']:.1f} {r['p99_ms']:.3f}\n")
    png = os.path.join(out_dir, "load.png")
    script = f"""
set terminal pngcairo size 1400,900 font ',10' noenhanced
set rmargin 12
set output '{png}'
set multiplot layout 2,1 title 'jargate load benchmark (one run, shared cores)'
set style data histograms
set style fill solid 0.8 border -1
set boxwidth 0.7
set grid ytics
set xtics rotate by -25 scale 0
set key off
set ylabel 'requests/s at saturation'
plot '{data}' using 2:xtic(1) lc rgb '#3a7bd5'
set ylabel 'p99 latency, ms (fixed rate)'
plot '{data}' using 3:xtic(1) lc rgb '#d5573a'
unset multiplot
"""
    try:
        subprocess.run(["gnuplot"], input=script, text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"load_report: no chart ({e})", file=sys.stderr)
        return None
    return png


def main():
    results, out_dir = sys.argv[1], sys.argv[2]
    meta, rows, order = parse(results)
    summary = summarise(rows, order)
    with open(os.path.join(out_dir, "load.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(summary[0].keys()))
        writer.writeheader()
        for r in summary:
            writer.writerow(
                {k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in r.items()}
            )
    header = (
        f"Load benchmark, one run: {meta.get('cores', '?')} cores shared by wrk, the proxy and "
        f"nginx; wrk {meta.get('wrk', '')}, {meta.get('duration', '?')} s saturation and "
        f"{meta.get('lat_duration', '?')} s at {meta.get('lat_rate', '?')} req/s per setup, "
        f"each in a fresh process; HAProxy {meta.get('haproxy', '?')}; load average "
        f"{meta.get('load_start', '?')} before, {meta.get('load_end', '?')} after."
    )
    killed = sorted(k[len("stop_killed_"):] for k in meta if k.startswith("stop_killed_"))
    if killed:
        header += (" Servers that did not exit within 5 s of their stop signal and were killed: "
                   + ", ".join(killed) + ".")
    text = header + "\n\n" + table(summary, meta) + "\n\nTargets:\n\n" + targets(summary) + "\n"
    with open(os.path.join(out_dir, "load.md"), "w") as f:
        f.write(text)
    print(text)
    png = chart(summary, out_dir)
    if png:
        print(f"chart: {png}")
    print(f"csv: {os.path.join(out_dir, 'load.csv')}")


if __name__ == "__main__":
    main()
