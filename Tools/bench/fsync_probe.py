#!/usr/bin/env python3
"""Measure this disk's durable-append latency.

COUNT times: write BLOCK bytes, then os.fdatasync().  Prints one JSON object
on stdout: p50/p99/mean/min/max in microseconds.

--mode append (default): every write goes at the end of the file, so each
  fdatasync also has to persist the new file size (on ext4: a journal commit) -
  the cost a log-structured store pays per durable append to a growing file.
--mode overwrite: the file is first filled with zeros and synced, then the
  blocks are overwritten in order - the cheaper case of a pre-written or
  recycled log file (SQLite's WAL after a checkpoint, RocksDB
  recycle_log_file_num).
"""
import argparse
import json
import math
import os
import statistics
import sys
import time


def pct(sorted_vals, p):
    if not sorted_vals:
        return None
    # nearest-rank percentile
    k = max(1, math.ceil(p / 100.0 * len(sorted_vals)))
    return sorted_vals[min(k, len(sorted_vals)) - 1]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dir", required=True, help="directory on the filesystem to probe")
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--block", type=int, default=4096)
    ap.add_argument("--mode", choices=("append", "overwrite"), default="append")
    args = ap.parse_args()

    path = os.path.join(args.dir, f"fsync_probe_{os.getpid()}.dat")
    buf = os.urandom(args.block)
    lat = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        if args.mode == "overwrite":
            os.write(fd, bytes(args.block * (args.count + 1)))
            os.fsync(fd)
        # one warm-up round so file creation is not part of the sample
        os.pwrite(fd, buf, 0)
        os.fdatasync(fd)
        for i in range(1, args.count + 1):
            t0 = time.perf_counter_ns()
            os.pwrite(fd, buf, i * args.block)
            os.fdatasync(fd)
            lat.append((time.perf_counter_ns() - t0) / 1000.0)
    finally:
        os.close(fd)
        try:
            os.unlink(path)
        except OSError:
            pass
    lat.sort()
    out = {
        "mode": args.mode,
        "count": args.count,
        "block_bytes": args.block,
        "p50_us": round(pct(lat, 50), 1),
        "p99_us": round(pct(lat, 99), 1),
        "mean_us": round(statistics.fmean(lat), 1),
        "min_us": round(lat[0], 1),
        "max_us": round(lat[-1], 1),
    }
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
