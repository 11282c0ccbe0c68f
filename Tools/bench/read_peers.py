#!/usr/bin/env python3
"""Point-read peers for Tools/bench-engine.sh: LMDB (py-lmdb), RocksDB (rocksdict) and SQLite,
each loaded with KEYS keys of VALUE_SIZE-byte values and read at random keys from one thread.
Prints one JSON object per system. These run through Python, so each read also pays the
interpreter's call overhead (about 0.1-0.3 us); the native peer is db_bench in the script."""
import argparse, json, os, random, shutil, sqlite3, sys, time


def keys_and_value(n, size):
    return [b"key-%d" % i for i in range(n)], os.urandom(size)


def timed_reads(get, keys, reads):
    rnd = random.Random(42)
    picks = [keys[rnd.randrange(len(keys))] for _ in range(reads)]
    start = time.perf_counter()
    found = 0
    for k in picks:
        if get(k) is not None:
            found += 1
    elapsed = time.perf_counter() - start
    assert found == reads, f"only {found} of {reads} reads found their key"
    return reads / elapsed


def lmdb_peer(path, keys, value, reads):
    import lmdb
    env = lmdb.open(path, map_size=8 << 30, sync=False, writemap=True)
    with env.begin(write=True) as txn:
        for k in keys:
            txn.put(k, value)
    with env.begin() as txn:
        rate = timed_reads(txn.get, keys, reads)
    env.close()
    return rate


def rocksdict_peer(path, keys, value, reads):
    from rocksdict import Rdict, Options, WriteBatch
    db = Rdict(path, Options(raw_mode=True))
    wb = WriteBatch(raw_mode=True)
    for i, k in enumerate(keys):
        wb.put(k, value)
        if i % 10000 == 9999:
            db.write(wb)
            wb = WriteBatch(raw_mode=True)
    db.write(wb)
    rate = timed_reads(db.get, keys, reads)
    db.close()
    return rate


def sqlite_peer(path, keys, value, reads):
    con = sqlite3.connect(os.path.join(path, "db.sqlite"))
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE kv (k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID")
    with con:
        con.executemany("INSERT INTO kv VALUES (?, ?)", ((k, value) for k in keys))
    cur = con.cursor()

    def get(k):
        row = cur.execute("SELECT v FROM kv WHERE k = ?", (k,)).fetchone()
        return row[0] if row else None

    rate = timed_reads(get, keys, reads)
    con.close()
    return rate


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--reads", type=int, default=1_000_000)
    ap.add_argument("--value-size", type=int, default=100)
    ap.add_argument("--systems", default="lmdb rocksdict sqlite")
    args = ap.parse_args()
    keys, value = keys_and_value(args.keys, args.value_size)
    peers = {"lmdb": lmdb_peer, "rocksdict": rocksdict_peer, "sqlite": sqlite_peer}
    for name in args.systems.split():
        path = os.path.join(args.dir, name)
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path)
        try:
            rate = peers[name](path, keys, value, args.reads)
            print(json.dumps({"system": name, "reads_per_sec": round(rate)}), flush=True)
        except Exception as e:  # a missing module or a failed run is reported, not fatal
            print(json.dumps({"system": name, "error": str(e)}), flush=True)
        shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
