#!/usr/bin/env python3
"""Load generator for the server crash test: durable single-key writes from many connections.

Usage: crash_load.py URL TOKEN MAP [--workers N] [--websocket]

Each worker thread keeps one HTTP/1.1 connection and PUTs keys w<worker>-<n> with the JSON value
{"w": worker, "n": n} and durability fsync. For every 2xx answer it prints "ACK <key> <n>" (one
line, flushed) *after* the answer arrived, so every printed key was acknowledged by the server.
With --websocket each worker is a TopGun client instead (Python `websockets` + `msgpack`): it
authenticates on /ws and sends each PUT as CLIENT_OP with write concern PERSISTED, printing ACK
after its OP_ACK. Any failure (the server was killed) ends that worker; the process exits when
all have ended or on SIGTERM. Clients Sediment did not write.
"""
import http.client
import json
import signal
import sys
import threading
import time
import urllib.parse

lock = threading.Lock()
stop = threading.Event()


def report(line):
    """One line on stdout, whole and flushed (workers share it)."""
    with lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def worker(url, token, map_name, w):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    n = 0
    while not stop.is_set():
        key = f"w{w}-{n}"
        body = json.dumps({"w": w, "n": n})
        try:
            conn.request("PUT", f"/v1/maps/{map_name}/keys/{key}?durability=fsync", body=body,
                         headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
        except Exception:
            return
        if not 200 <= resp.status < 300:
            report(f"ERR {key} {resp.status}")
            return
        report(f"ACK {key} {n}")
        n += 1


def ws_worker(url, token, map_name, w):
    import msgpack
    from websockets.sync.client import connect
    try:
        ws = connect(url.replace("http://", "ws://") + "/ws", open_timeout=30)
        assert msgpack.unpackb(ws.recv(timeout=30))["type"] == "AUTH_REQUIRED"
        ws.send(msgpack.packb({"type": "AUTH", "token": token}))
        assert msgpack.unpackb(ws.recv(timeout=30))["type"] == "AUTH_ACK"
    except Exception:
        return
    n = 0
    while not stop.is_set():
        key = f"w{w}-{n}"
        stamp = {"millis": int(time.time() * 1000), "counter": n, "nodeId": f"crash-{w}"}
        op = {"id": key, "mapName": map_name, "key": key, "opType": "PUT", "record": {"value": {"w": w, "n": n}, "timestamp": stamp},
              "writeConcern": "PERSISTED"}
        try:
            ws.send(msgpack.packb({"type": "CLIENT_OP", "payload": op}))
            answer = msgpack.unpackb(ws.recv(timeout=30))
        except Exception:
            return
        if not (answer.get("type") == "OP_ACK" and answer["payload"].get("lastId") == key and answer["payload"].get("achievedLevel") == "PERSISTED"):
            report(f"ERR {key} {answer}")
            return
        report(f"ACK {key} {n}")
        n += 1


def main():
    url, token, map_name = sys.argv[1], sys.argv[2], sys.argv[3]
    workers = int(sys.argv[sys.argv.index("--workers") + 1]) if "--workers" in sys.argv else 16
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    target = ws_worker if "--websocket" in sys.argv else worker
    threads = [threading.Thread(target=target, args=(url, token, map_name, w), daemon=True) for w in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
