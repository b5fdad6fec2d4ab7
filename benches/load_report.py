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
        window = sat.get("window_us", 0) / 1e6
        busy = sat.get("setup_busy_ticks", 0) / clk / window if window else float("nan")
        machine = sat.get("machine_busy_ticks", 0) / clk / window if window else float("nan")
        rate = lat.get("rate", 0)
        achieved = lat.get("rps", 0)
        out.append(
            {
                "setup": name,
                "rps": sat.get("rps", 0),
                "sat_p99_ms": sat.get("p99_us", float("nan")) / 1000,
                "cpu_busy_cores": busy,
                "machine_busy_cores": machine,
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


# The HAProxy setup each jargate setup is compared with (same work, same algorithm).
def peer(name):
    if name == "jargate passthrough":
        return "HAProxy passthrough"
    for alg in ("RS256", "ES256"):
        if name.startswith("jargate") and name.endswith(alg):
            return f"HAProxy jwt_verify {alg}"
    return None


def table(summary):
    by = {r["setup"]: r for r in summary}
    lines = [
        "| setup | req/s (saturation) | × HAProxy | p99 ms (saturation) | CPU busy, cores "
        "(machine) | CPU s / 1000 req | non-2xx | peak RSS MiB | fixed rate req/s | p50 ms "
        "| p99 ms | p99.9 ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in summary:
        note = "" if r["rate_kept"] else f" (rate not kept: {r['lat_rps']:.0f} req/s)"
        errors = r["non2xx"] + r["socket_errors"]
        flag = "" if r["pool_wrapped"] == 0 else " (pool wrapped: replays)"
        p = by.get(peer(r["setup"]) or "")
        times = f"{r['rps'] / p['rps']:.2f}" if p and p["rps"] else ""
        lines.append(
            f"| {r['setup']} | {r['rps']:.0f} | {times} | {r['sat_p99_ms']:.2f} "
            f"| {r['cpu_busy_cores']:.2f} ({r['machine_busy_cores']:.2f}) "
            f"| {r['cpu_s_per_1000']:.3f} | {errors}{flag} | {r['peak_rss_mib']:.1f} "
            f"| {r['lat_rate']:.0f}{note} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} "
            f"| {r['p999_ms']:.2f} |"
        )
    return "\n".join(lines)


def read_memory(out_dir, since):
    """memory.csv of benches/memory.sh, if it was written during this run."""
    path = os.path.join(out_dir, "memory.csv")
    if not os.path.exists(path) or os.path.getmtime(path) < since:
        return {}
    with open(path) as f:
        return {row["measurement"]: row for row in csv.DictReader(f)}


def targets(summary, memory):
    by = {r["setup"]: r for r in summary}
    out = ["| target | measured | met |", "|---|---|---|"]

    def row(target, measured, ok):
        out.append(f"| {target} | {measured} | {'yes' if ok else '**no**'} |")

    def ratio_row(target, a, b, threshold):
        ja, hb = by.get(a), by.get(b)
        if ja and hb and hb["rps"]:
            ratio = ja["rps"] / hb["rps"]
            row(target, f"{ja['rps']:.0f} / {hb['rps']:.0f} = {ratio:.2f} ×", ratio >= threshold)

    ratio_row("jargate RS256 assertions ≥ 0.8 × HAProxy jwt_verify RS256",
              "jargate assertion RS256", "HAProxy jwt_verify RS256", 0.8)
    ratio_row("jargate ES256 assertions ≥ 1.1 × HAProxy jwt_verify ES256",
              "jargate assertion ES256", "HAProxy jwt_verify ES256", 1.1)
    for alg in ("RS256", "ES256"):
        ratio_row(f"{alg} request objects ≥ 0.9 × {alg} assertions",
                  f"jargate request object {alg}", f"jargate assertion {alg}", 0.9)
    ratio_row("jargate passthrough ≥ 0.65 × HAProxy passthrough",
              "jargate passthrough", "HAProxy passthrough", 0.65)
    busy = [r for r in summary if r["cpu_busy_cores"] == r["cpu_busy_cores"]]
    if busy:
        low = [r for r in busy if r["cpu_busy_cores"] < 1.7]
        least = min(busy, key=lambda r: r["cpu_busy_cores"])
        row("CPU busy (server, upstream, wrk) ≥ 1.7 cores in every saturation row",
            f"lowest {least['cpu_busy_cores']:.2f} ({least['setup']}); below 1.7: "
            + (", ".join(f"{r['setup']} {r['cpu_busy_cores']:.2f}" for r in low) or "none"),
            not low)
    validating = [r for r in summary
                  if r["setup"].startswith("jargate") and "passthrough" not in r["setup"]]
    for r in validating:
        row(f"{r['setup']}: p99.9 ≤ 5 ms at ⅓ of HAProxy's validating rate",
            f"{r['p999_ms']:.2f} ms at {r['lat_rate']:.0f} req/s"
            + ("" if r["rate_kept"] else f" (rate not kept: {r['lat_rps']:.0f})"),
            r["p999_ms"] <= 5 and r["rate_kept"])
    for name in ("jargate passthrough", "jargate assertion RS256", "jargate assertion ES256"):
        j, h = by.get(name), by.get(peer(name) or "")
        if j and h and h["sat_p99_ms"]:
            ratio = j["sat_p99_ms"] / h["sat_p99_ms"]
            row(f"{name}: p99 at saturation ≤ 1.5 × {h['setup']}",
                f"{j['sat_p99_ms']:.2f} / {h['sat_p99_ms']:.2f} ms = {ratio:.2f} ×", ratio <= 1.5)
    jargate = [r for r in summary if r["setup"].startswith("jargate")]
    bad = [r for r in jargate if r["non2xx"] or r["socket_errors"] or r["pool_wrapped"]]
    row("every valid request answered 2xx (jargate setups, both phases, no replays)",
        "; ".join(f"{r['setup']}: {r['non2xx']} non-2xx, {r['socket_errors']} socket errors"
                  for r in bad) or f"0 non-2xx in {len(jargate)} setups", not bad)
    idle = next((v for k, v in memory.items() if k.startswith("idle_") and k != "idle_1_client"),
                None)
    reload = next((v for k, v in memory.items() if k.startswith("reload_")), None)
    if idle:
        rss, hwm = float(idle["rss_mib"]), float(idle["hwm_mib"])
        clients = idle["measurement"].split("_")[1]
        row(f"RSS ≤ 64 MiB with {clients} registered clients", f"{rss:.1f} MiB", rss <= 64)
        row("registry load peak ≤ 2 × the loaded size (start-up)",
            f"VmHWM {hwm:.1f} / VmRSS {rss:.1f} MiB = {hwm / rss:.2f} ×", hwm <= 2 * rss)
        if reload:
            peak = float(reload["hwm_mib"])
            row("registry load peak ≤ 2 × the loaded size (reload, SIGHUP)",
                f"VmHWM {peak:.1f} / {rss:.1f} MiB = {peak / rss:.2f} ×", peak <= 2 * rss)
    else:
        out.append("| RSS with 10 000 clients, registry load peak | not measured in this run "
                   "(NO_MEMORY=1) | |")
    longer = []
    for alg in ("RS256", "ES256"):
        j, h = by.get(f"jargate assertion {alg}"), by.get(f"HAProxy jwt_verify {alg}")
        if j and h and h["rps"]:
            longer.append(f"{alg} {j['rps'] / h['rps']:.2f} ×")
    if longer:
        out.append(f"| (longer term) ≥ 1.2 × HAProxy on every algorithm | {', '.join(longer)} "
                   f"| {'yes' if all(float(x.split()[1]) >= 1.2 for x in longer) else 'no'} |")
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
        f"{meta.get('lat_duration', '?')} s at a fixed rate per setup (⅓ of HAProxy's "
        f"jwt_verify rate: {meta.get('lat_rate_rs256', '?')} req/s RS256, "
        f"{meta.get('lat_rate_es256', '?')} ES256), each in a fresh process; jargate with "
        f"RUST_LOG={meta.get('jargate_log', 'info')}, its stderr in a file next to its "
        f"configuration; HAProxy {meta.get('haproxy', '?')}; load average "
        f"{meta.get('load_start', '?')} before, {meta.get('load_end', '?')} after. CPU busy: "
        "server, upstream and wrk together, in cores, over the steady part of the saturation "
        "phase (the whole machine in parentheses)."
    )
    killed = sorted(k[len("stop_killed_"):] for k in meta if k.startswith("stop_killed_"))
    if killed:
        header += (" Servers that did not exit within 5 s of their stop signal and were killed: "
                   + ", ".join(killed) + ".")
    memory = read_memory(out_dir, float(meta.get("started_at", 0) or 0))
    text = (header + "\n\n" + table(summary) + "\n\nTargets (ratios of this run):\n\n"
            + targets(summary, memory) + "\n")
    with open(os.path.join(out_dir, "load.md"), "w") as f:
        f.write(text)
    print(text)
    png = chart(summary, out_dir)
    if png:
        print(f"chart: {png}")
    print(f"csv: {os.path.join(out_dir, 'load.csv')}")


if __name__ == "__main__":
    main()
