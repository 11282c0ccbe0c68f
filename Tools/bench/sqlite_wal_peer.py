#!/usr/bin/env python3
"""SQLite WAL peer for Tools/bench-ingest.sh: durable single-record inserts.

WRITERS threads, each with its own connection to one database file
(journal_mode=WAL, synchronous=FULL, busy_timeout), each inserting
KEY_SIZE-byte random keys with VALUE_SIZE-byte values, every INSERT committed
on its own (autocommit, one WAL fsync per commit).  Prints one JSON object
on stdout: ops, seconds, ops_per_sec, p50_us, p99_us, ...  Latency is per
INSERT as seen by the caller, including lock waits and busy retries.
"""
import argparse
import json
import math
import os
import random
import sqlite3
import statistics
import sys
import threading
import time


def pct(sorted_vals, p):
    if not sorted_vals:
        return None
    k = max(1, math.ceil(p / 100.0 * len(sorted_vals)))
    return sorted_vals[min(k, len(sorted_vals)) - 1]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--db", required=True, help="database file (created)")
    ap.add_argument("--writers", type=int, required=True)
    ap.add_argument("--ops", type=int, required=True, help="total inserts over all writers")
    ap.add_argument("--value-size", type=int, default=100)
    ap.add_argument("--key-size", type=int, default=16)
    ap.add_argument("--busy-timeout-ms", type=int, default=60000)
    ap.add_argument("--max-seconds", type=float, default=0,
                    help="stop early after this many seconds (0 = no cap); result is marked truncated")
    args = ap.parse_args()

    n = args.writers
    setup = sqlite3.connect(args.db, isolation_level=None)
    mode = setup.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if mode.lower() != "wal":
        sys.exit(f"could not enable WAL (journal_mode={mode})")
    setup.execute("CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID")
    setup.close()

    per = [args.ops // n + (1 if i < args.ops % n else 0) for i in range(n)]
    lat = [None] * n
    done = [0] * n
    retries = [0] * n
    errors = []
    ready = threading.Barrier(n + 1)
    t_start = [0]
    deadline = [None]

    def worker(i):
        try:
            conn = sqlite3.connect(args.db, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout={args.busy_timeout_ms}")
            conn.execute("PRAGMA synchronous=FULL")
            rng = random.Random(i * 7919 + 1)
            pool = os.urandom(args.value_size * 2)
            my = []
            stmt = "INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)"
        except Exception as e:  # noqa: BLE001
            errors.append(f"writer {i} setup: {e}")
            ready.abort()
            return
        try:
            ready.wait()
        except threading.BrokenBarrierError:
            conn.close()
            return
        dl = deadline[0]
        cnt = 0
        try:
            for j in range(per[i]):
                key = rng.getrandbits(args.key_size * 8).to_bytes(args.key_size, "big")
                off = j % args.value_size
                val = pool[off:off + args.value_size]
                t0 = time.perf_counter_ns()
                while True:
                    try:
                        conn.execute(stmt, (key, val))
                        break
                    except sqlite3.OperationalError as e:
                        msg = str(e).lower()
                        if "locked" in msg or "busy" in msg:
                            retries[i] += 1
                            continue
                        raise
                my.append(time.perf_counter_ns() - t0)
                cnt += 1
                if dl is not None and (cnt & 63) == 0 and time.perf_counter() > dl:
                    break
        except Exception as e:  # noqa: BLE001
            errors.append(f"writer {i}: {e}")
        finally:
            lat[i] = my
            done[i] = cnt
            conn.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    # the deadline is published before the barrier opens, so every writer sees it
    if args.max_seconds > 0:
        deadline[0] = time.perf_counter() + args.max_seconds
    try:
        ready.wait()
    except threading.BrokenBarrierError:
        pass
    t_start[0] = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t_start[0]
    if errors:
        sys.exit("; ".join(errors[:3]))

    all_lat = sorted(x for l in lat if l for x in l)
    total = sum(done)
    if total == 0:
        sys.exit("no operations completed")
    out = {
        "ops": total,
        "ops_requested": args.ops,
        "truncated": total < args.ops,
        "writers": n,
        "seconds": round(elapsed, 3),
        "ops_per_sec": round(total / elapsed, 1),
        "p50_us": round(pct(all_lat, 50) / 1000.0, 1),
        "p99_us": round(pct(all_lat, 99) / 1000.0, 1),
        "mean_us": round(statistics.fmean(all_lat) / 1000.0, 1),
        "max_us": round(all_lat[-1] / 1000.0, 1),
        "mb_per_sec": round(total * (args.key_size + args.value_size) / elapsed / 1e6, 3),
        "busy_retries": sum(retries),
        "sqlite_version": sqlite3.sqlite_version,
    }
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
