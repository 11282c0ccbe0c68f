#!/usr/bin/env python3
"""Helper for Tools/bench-ingest.sh: normalises each peer's output into one
JSON line, and renders the final Markdown report + bench-results JSON.

  ingest_report.py parse SYSTEM --writers N --ops-requested N --rc RC \
      --stdout FILE --stderr FILE --command CMD [--status skipped --reason R]
      -> prints one JSON line (always; a parse failure becomes status=failed)

  ingest_report.py report --results RESULTS.jsonl --meta META.json --out OUT.json
      -> writes OUT.json, prints the Markdown report on stdout
"""
import argparse
import csv
import io
import json
import math
import re
import sys

SYSTEMS = [
    ("sediment", "Sediment"),
    ("rocksdb", "RocksDB"),
    ("sqlite", "SQLite WAL"),
    ("redis", "Redis AOF"),
]
KEY_BYTES = 16
VALUE_BYTES = 100


def read(path):
    if not path:
        return ""
    try:
        with open(path, "r", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def last_line(text, limit=200):
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    if not lines:
        return ""
    # prefer a line that looks like an error message, then a usage line
    for pat in (r"error|fail|invalid|unknown|unexpected|could not|cannot|can't|refused|denied|no such",
                r"usage"):
        for l in reversed(lines):
            if re.search(pat, l, re.I):
                return l[:limit]
    return lines[-1][:limit]


def num(x):
    if x is None:
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


class ParseError(Exception):
    pass


def parse_rocksdb(out, err):
    text = out + "\n" + err
    m = re.search(r"^fillrandom\s*:\s*([\d.]+)\s+micros/op\s+(\d+)\s+ops/sec\s+([\d.]+)\s+seconds\s+(\d+)\s+operations;\s*([\d.]+)\s*MB/s",
                  text, re.M)
    if not m:
        raise ParseError("no 'fillrandom : ... ops/sec' line in db_bench output")
    r = {
        "micros_per_op": float(m.group(1)),
        "ops_per_sec": float(m.group(2)),
        "seconds": float(m.group(3)),
        "ops": int(m.group(4)),
        "mb_per_sec": float(m.group(5)),
    }
    p = re.search(r"Percentiles:\s*P50:\s*([\d.]+)\s+P75:\s*([\d.]+)\s+P99:\s*([\d.]+)", text)
    if p:
        r["p50_us"] = float(p.group(1))
        r["p99_us"] = float(p.group(3))
    # db_bench's ops/sec is printed as an integer; recompute for precision
    if r["seconds"] > 0:
        r["ops_per_sec"] = round(r["ops"] / r["seconds"], 1)
    if "Assertions are enabled" in text:
        r["db_bench_assertions_enabled"] = True
    return r


def parse_redis(out, err, ops_requested):
    rows = list(csv.reader(io.StringIO(out)))
    header = None
    for row in rows:
        if row and row[0] == "test":
            header = row
        elif row and row[0].upper() == "SET":
            if header is None:
                header = ["test", "rps", "avg_latency_ms", "min_latency_ms", "p50_latency_ms",
                          "p95_latency_ms", "p99_latency_ms", "max_latency_ms"][: len(row)]
            d = dict(zip(header, row))
            rps = num(d.get("rps"))
            if not rps:
                raise ParseError("redis-benchmark reported no rps")
            r = {"ops_per_sec": rps, "ops": ops_requested,
                 "seconds": round(ops_requested / rps, 3),
                 "mb_per_sec": round(rps * (KEY_BYTES + VALUE_BYTES) / 1e6, 3)}
            for k_in, k_out in (("p50_latency_ms", "p50_us"), ("p99_latency_ms", "p99_us"),
                                ("avg_latency_ms", "mean_us"), ("max_latency_ms", "max_us")):
                v = num(d.get(k_in))
                if v is not None:
                    r[k_out] = round(v * 1000.0, 1)
            return r
    m = re.search(r"SET:\s*([\d.]+)\s+requests per second", out + err)
    if m:
        rps = float(m.group(1))
        return {"ops_per_sec": rps, "ops": ops_requested, "seconds": round(ops_requested / rps, 3)}
    raise ParseError("no SET line in redis-benchmark output")


def parse_json_object(out, what):
    for line in reversed(out.splitlines()):
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict):
                return obj
    # maybe pretty-printed over several lines
    s, e = out.find("{"), out.rfind("}")
    if s >= 0 and e > s:
        try:
            obj = json.loads(out[s:e + 1])
            if isinstance(obj, dict):
                return obj
        except ValueError:
            pass
    raise ParseError(f"no JSON object on {what} stdout")


def parse_generic_json(out, what):
    obj = parse_json_object(out, what)
    if num(obj.get("ops_per_sec")) is None:
        raise ParseError(f"{what} JSON has no numeric ops_per_sec")
    r = {"raw": obj}
    for k in ("ops_per_sec", "p50_us", "p99_us", "p999_us", "mb_per_sec", "mean_us", "max_us", "seconds"):
        v = num(obj.get(k))
        if v is not None:
            r[k] = v
    if "seconds" not in r and num(obj.get("elapsed_s")) is not None:
        r["seconds"] = num(obj.get("elapsed_s"))
    for k in ("ops", "truncated", "busy_retries", "sqlite_version"):
        if k in obj:
            r[k] = obj[k]
    return r


def summarize(rec):
    w = rec["writers"]
    if rec.get("status") != "ok":
        word = "skipped" if rec["system"] == "sediment" else rec.get("status")
        return f"{rec['system']}: {word} (writers={w}: {rec.get('reason')})"
    s = f"{rec['system']} writers={w}: {rec['ops_per_sec']:,.0f} ops/s"
    lat = [f"{k[:-3]} {rec[k]:,.0f} us" for k in ("p50_us", "p99_us") if rec.get(k) is not None]
    if lat:
        s += " (" + ", ".join(lat) + ")"
    if rec.get("ops") is not None:
        s += f", {rec['ops']:,} ops"
    if rec.get("seconds") is not None:
        s += f" in {rec['seconds']:.1f} s"
    if rec.get("truncated"):
        s += " [stopped at time cap]"
    return s


def emit(rec):
    print(json.dumps(rec))
    print("  " + summarize(rec), file=sys.stderr)


def cmd_parse(a):
    rec = {"system": a.system, "writers": a.writers, "rep": a.rep,
           "ops_requested": a.ops_requested, "command": a.command}
    if a.status in ("skipped", "failed"):
        rec.update(status=a.status, reason=a.reason or a.status)
        emit(rec)
        return
    out, err = read(a.stdout), read(a.stderr)
    if a.rc == 124:
        rec.update(status="failed", reason=f"timeout after {a.timeout}s")
        emit(rec)
        return
    if a.rc == 137:
        rec.update(status="failed", reason=f"killed by SIGKILL (timeout after {a.timeout}s + grace, or OOM)")
        emit(rec)
        return
    if a.rc != 0:
        detail = last_line(err) or last_line(out) or "no output"
        rec.update(status="failed", reason=f"exit {a.rc}: {detail}")
        emit(rec)
        return
    try:
        if a.system == "rocksdb":
            rec.update(parse_rocksdb(out, err))
        elif a.system == "redis":
            rec.update(parse_redis(out, err, a.ops_requested))
        else:
            rec.update(parse_generic_json(out, a.system))
        rec["status"] = "ok"
        if a.extra:
            rec.update(json.loads(a.extra))
    except ParseError as e:
        rec.update(status="failed", reason=str(e) + (f" ({last_line(err)})" if last_line(err) else ""))
    emit(rec)


# ---------------------------------------------------------------- report

def fmt_int(v):
    return f"{v:,.0f}"


def md_escape(s):
    return s.replace("|", "\\|").replace("\n", " ")


def short(s, n=48):
    s = s.strip()
    return s if len(s) <= n else s[: n - 1] + "…"


def pick(recs):
    """Representative record of one (system, writers) cell: the median-throughput
    successful run; if none succeeded, the last failure."""
    if not recs:
        return None
    ok = sorted((r for r in recs if r.get("status") == "ok"), key=lambda r: r["ops_per_sec"])
    if not ok:
        return recs[-1]
    return ok[(len(ok) - 1) // 2]


def cell_ops(rec, notes):
    if rec is None:
        return "—"
    if rec.get("status") != "ok":
        return md_escape(f"{rec.get('status', 'failed')}: {short(rec.get('reason', '?'))}")
    s = fmt_int(rec["ops_per_sec"])
    if rec.get("truncated"):
        s += " †"
        notes.add("truncated")
    return s


def cell_lat(rec):
    if rec is None or rec.get("status") != "ok":
        return "—" if rec is None else rec.get("status", "failed")
    p50, p99 = rec.get("p50_us"), rec.get("p99_us")
    if p50 is None and p99 is None:
        return "n/a"

    def f(v):
        if v is None:
            return "?"
        return f"{v:,.0f}" if v >= 100 else f"{v:.1f}"
    return f"{f(p50)} / {f(p99)}"


def ratio(a, b):
    if not a or not b or a.get("status") != "ok" or b.get("status") != "ok":
        return "n/a"
    return f"{a['ops_per_sec'] / b['ops_per_sec']:.2f}×"


def cmd_report(a):
    with open(a.meta) as f:
        meta = json.load(f)
    results = []
    with open(a.results) as f:
        for line in f:
            line = line.strip()
            if line:
                try:
                    results.append(json.loads(line))
                except ValueError:
                    pass
    writers = meta.get("writers") or sorted({r["writers"] for r in results})
    groups = {}
    for r in results:
        if r.get("calibration"):
            continue
        groups.setdefault((r["system"], r["writers"]), []).append(r)
    by = {k: pick(v) for k, v in groups.items()}
    repeat = int(meta.get("repeat") or 1)

    summary = []
    for (sysname, w), recs in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        rep = by[(sysname, w)]
        ok = [r["ops_per_sec"] for r in recs if r.get("status") == "ok"]
        entry = {"system": sysname, "writers": w, "status": rep.get("status"), "runs": len(recs),
                 "ok_runs": len(ok)}
        for k in ("ops_per_sec", "p50_us", "p99_us", "mb_per_sec", "ops", "seconds", "truncated", "reason"):
            if k in rep:
                entry[k] = rep[k]
        if len(ok) > 1:
            entry["ops_per_sec_min"], entry["ops_per_sec_max"] = min(ok), max(ok)
        summary.append(entry)
    for w in writers:
        s, r, d = by.get(("sediment", w)), by.get(("rocksdb", w)), by.get(("redis", w))
        for e in summary:
            if e["system"] == "sediment" and e["writers"] == w:
                if ratio(s, r) != "n/a":
                    e["vs_rocksdb"] = round(s["ops_per_sec"] / r["ops_per_sec"], 3)
                if ratio(s, d) != "n/a":
                    e["vs_redis"] = round(s["ops_per_sec"] / d["ops_per_sec"], 3)

    doc = dict(meta)
    doc["summary"] = summary
    doc["results"] = results

    notes = set()
    o = []
    o.append("## Durable single-record ingest")
    o.append("")
    o.append(f"{meta.get('key_size', KEY_BYTES)}-byte keys, {meta.get('value_size', VALUE_BYTES)}-byte values, "
             "every write durable (fsync/fdatasync) before it is acknowledged; a fresh data directory per run"
             + (f"; median of {repeat} runs per cell." if repeat > 1 else "; one run per cell."))
    o.append("")
    o.append("| writers | Sediment ops/s | RocksDB ops/s | SQLite WAL ops/s | Redis AOF ops/s | Sediment/RocksDB | Sediment/Redis |")
    o.append("|---:|---:|---:|---:|---:|---:|---:|")
    for w in writers:
        s, r, q, d = (by.get((k, w)) for k, _ in SYSTEMS)
        o.append(f"| {w} | {cell_ops(s, notes)} | {cell_ops(r, notes)} | {cell_ops(q, notes)} | "
                 f"{cell_ops(d, notes)} | {ratio(s, r)} | {ratio(s, d)} |")
    o.append("")
    o.append("Latency p50 / p99 in µs (as each tool measures it: Sediment as reported by `sediment bench`, "
             "RocksDB per Put inside db_bench, SQLite per INSERT in the Python client incl. busy waits, "
             "Redis client-side round trip over loopback TCP):")
    o.append("")
    o.append("| writers | Sediment p50 / p99 | RocksDB p50 / p99 | SQLite WAL p50 / p99 | Redis AOF p50 / p99 |")
    o.append("|---:|---:|---:|---:|---:|")
    for w in writers:
        cells = [cell_lat(by.get((k, w))) for k, _ in SYSTEMS]
        o.append(f"| {w} | " + " | ".join(cells) + " |")
    o.append("")
    if repeat > 1:
        o.append(f"Throughput range over the {repeat} runs (min – max ops/s):")
        o.append("")
        o.append("| writers | " + " | ".join(label for _, label in SYSTEMS) + " |")
        o.append("|---:|" + "---:|" * len(SYSTEMS))
        for w in writers:
            cells = []
            for k, _ in SYSTEMS:
                ok = [r["ops_per_sec"] for r in groups.get((k, w), []) if r.get("status") == "ok"]
                cells.append(f"{fmt_int(min(ok))} – {fmt_int(max(ok))} ({len(ok)} ok)" if ok else "—")
            o.append(f"| {w} | " + " | ".join(cells) + " |")
        o.append("")
    ops = {}
    for w in writers:
        for k, _ in SYSTEMS:
            r = by.get((k, w))
            if r and r.get("status") == "ok" and r.get("ops") is not None:
                ops.setdefault(w, []).append(f"{k} {fmt_int(r['ops'])}")
    if ops:
        o.append("Operations per run: " + "; ".join(f"{w} writers: " + ", ".join(v) for w, v in ops.items()) + ".")
        o.append("")
    if "truncated" in notes:
        o.append(f"† run stopped at the {meta.get('sqlite_max_seconds'):g} s time cap before all requested "
                 "operations were done; the rate is over the operations completed.")
        o.append("")
    cal = [r for r in results if r.get("calibration")]
    if cal:
        o.append("Runs shorter than the minimum were repeated with more operations (short runs kept in the "
                 "JSON as calibration): " + ", ".join(
                     f"{r['system']} @ {r['writers']} ({fmt_int(r['ops'])} ops in {r['seconds']:.2f} s)" for r in cal)
                 + ".")
        o.append("")
    problems = []
    seen = set()
    for r in results:
        if r.get("status") != "ok":
            key = (r["system"], r.get("status"), r.get("reason"))
            if key not in seen:
                seen.add(key)
                ws = sorted({x["writers"] for x in results
                             if (x["system"], x.get("status"), x.get("reason")) == key})
                problems.append(f"- {r['system']} ({', '.join(map(str, ws))} writers): "
                                f"{r.get('status')}: {r.get('reason')}")
    if problems:
        o.append("Not measured:")
        o.append("")
        o.extend(problems)
        o.append("")
    warnings = []
    fb, fa = meta.get("fsync_probe_before"), meta.get("fsync_probe_after")
    if isinstance(fb, dict) and isinstance(fa, dict) and fb.get("p50_us") and fa.get("p50_us"):
        hi, lo = max(fb["p50_us"], fa["p50_us"]), min(fb["p50_us"], fa["p50_us"])
        if hi > 2 * lo:
            warnings.append(f"The fsync p50 moved from {fb['p50_us']:.0f} µs to {fa['p50_us']:.0f} µs between "
                            "start and end: the disk was shared with other I/O; numbers may be skewed.")
    busy = num(meta.get("cpu_busy_pct_start"))
    if busy is not None and busy > 25:
        warnings.append(f"The CPUs were {busy:.0f}% busy just before the run: something else was running.")
    if warnings:
        o.append("**Warning:** " + " ".join(warnings) + " Re-run on a quiet machine (or with REPEAT=3).")
        o.append("")
    doc["warnings"] = warnings
    o.append("### Machine")
    o.append("")
    for k, label in (("fsync_probe_before", "fsync probe (start)"),
                     ("fsync_probe_overwrite", "fsync probe (start, pre-written file)"),
                     ("fsync_probe_after", "fsync probe (end)")):
        p = meta.get(k)
        if isinstance(p, dict) and "p50_us" in p:
            what = "overwrite" if p.get("mode") == "overwrite" else "append"
            o.append(f"- {label}: {p['count']} × ({what} {p['block_bytes']} B + fdatasync): "
                     f"p50 {p['p50_us']:.0f} µs, p99 {p['p99_us']:.0f} µs, mean {p['mean_us']:.0f} µs "
                     f"(≈ {1e6 / p['mean_us']:,.0f} serial fsyncs/s)")
        elif p:
            o.append(f"- {label}: {p}")
    o.append(f"- nproc: {meta.get('nproc')}; CPU: {meta.get('cpu_model')}; memory: {meta.get('mem_total')}")
    o.append(f"- CPU busy just before the run: {meta.get('cpu_busy_pct_start')}%; load average (1/5/15 min) "
             f"at start: {meta.get('loadavg_start')}, at end: {meta.get('loadavg_end')} "
             "(fsync waits count as load)")
    o.append(f"- kernel: {meta.get('kernel')}; OS: {meta.get('os')}")
    o.append(f"- data filesystem: {meta.get('filesystem')}")
    o.append(f"- versions: {meta.get('versions')}")
    o.append(f"- date: {meta.get('date')} (whole run {meta.get('elapsed_s')} s)")
    o.append(f"- command: `{meta.get('command_line')}`")
    o.append(f"- raw results: `{meta.get('results_path')}`")
    with open(a.out, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    print("\n".join(o))


def cmd_rescale(a):
    """If the last record in RESULTS is an ok run shorter than --min-seconds, mark it as a
    calibration run and print the op count that should take about --target-seconds."""
    with open(a.results) as f:
        lines = f.read().splitlines()
    if not lines:
        return
    try:
        rec = json.loads(lines[-1])
    except ValueError:
        return
    secs = num(rec.get("seconds"))
    ops = rec.get("ops") or rec.get("ops_requested")
    if rec.get("status") != "ok" or not secs or not ops or secs >= a.min_seconds:
        return
    new = min(a.max_ops, int(ops * a.target_seconds / max(secs, 0.05)))
    new = int(math.ceil(new / 1000.0) * 1000)
    if new <= ops:
        return
    rec["calibration"] = True
    lines[-1] = json.dumps(rec)
    with open(a.results, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(new)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("parse")
    p.add_argument("system", choices=[k for k, _ in SYSTEMS])
    p.add_argument("--writers", type=int, required=True)
    p.add_argument("--ops-requested", type=int, default=0)
    p.add_argument("--rc", type=int, default=0)
    p.add_argument("--stdout")
    p.add_argument("--stderr")
    p.add_argument("--command", default="")
    p.add_argument("--timeout", default="")
    p.add_argument("--rep", type=int, default=1)
    p.add_argument("--status", default="")
    p.add_argument("--reason", default="")
    p.add_argument("--extra", default="", help="JSON object merged into an ok record")
    p.set_defaults(func=cmd_parse)
    c = sub.add_parser("rescale")
    c.add_argument("results")
    c.add_argument("--min-seconds", type=float, default=2)
    c.add_argument("--target-seconds", type=float, default=5)
    c.add_argument("--max-ops", type=int, default=3000000)
    c.set_defaults(func=cmd_rescale)
    r = sub.add_parser("report")
    r.add_argument("--results", required=True)
    r.add_argument("--meta", required=True)
    r.add_argument("--out", required=True)
    r.set_defaults(func=cmd_report)
    a = ap.parse_args()
    a.func(a)


if __name__ == "__main__":
    main()
