#!/usr/bin/env python3
"""Drives a running `sediment serve` through the TopGun sync protocol with clients we did not
write: Python `websockets` (sync client) + `msgpack`, `curl -N` for Server-Sent Events and
urllib for `POST /sync`. The Merkle tree below is written from TopGun's definition, apart from
the server's code, so a matching root is a real cross-check.

usage: sync_interop.py URL SECRET   (prints one "ok <scenario> <detail>" line per scenario;
                                     exits non-zero at the first failure)
"""
import json
import subprocess
import sys
import time
import traceback
import urllib.request

import jwt
import msgpack
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

URL, SECRET = sys.argv[1], sys.argv[2]
WS = URL.replace("http://", "ws://") + "/ws"


def token(user, roles):
    return jwt.encode({"sub": user, "roles": roles}, SECRET, algorithm="HS256")


# --- TopGun's Merkle tree (FNV-1a over UTF-16 code units, fmix32, sum of mixed children) ---

def fnv1a(text):
    h = 0x811C9DC5
    units = text.encode("utf-16-le")
    for i in range(0, len(units), 2):
        h ^= units[i] | (units[i + 1] << 8)
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def fmix(h):
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & 0xFFFFFFFF
    h ^= h >> 16
    return h


def combine(hashes):
    return sum(fmix(h) for h in hashes) & 0xFFFFFFFF


class Tree:
    def __init__(self):
        self.items = {}  # key -> (timestamp dict, value)

    def put(self, key, record):
        old = self.items.get(key)
        t = record["timestamp"]
        if old is None or (t["millis"], t["counter"], t["nodeId"]) > (old["timestamp"]["millis"], old["timestamp"]["counter"], old["timestamp"]["nodeId"]):
            self.items[key] = record

    def _leaves(self):
        leaves = {}
        for key, r in self.items.items():
            t = r["timestamp"]
            path = "%08x" % fnv1a(key)
            leaves.setdefault(path[:3], []).append(fnv1a(f"{key}:{t['millis']}:{t['counter']}:{t['nodeId']}"))
        return leaves

    def hash(self, prefix):
        leaves = self._leaves()

        def node(p):
            if len(p) == 3:
                return combine(leaves.get(p, []))
            children = {k[: len(p) + 1] for k in leaves if k.startswith(p)}
            return combine(node(c) for c in children)

        return node(prefix)

    def buckets(self, prefix):
        leaves = self._leaves()
        return {k[len(prefix)] for k in leaves if k.startswith(prefix)}


# --- a minimal TopGun client ---

class Client:
    def __init__(self, user, roles=("writer",), node=None):
        self.ws = connect(WS, max_size=None, open_timeout=10)
        self.node = node or f"py-{user}"
        self.counter = 0
        first = self.recv()
        assert first["type"] == "AUTH_REQUIRED", first
        self.send({"type": "AUTH", "token": token(user, list(roles))})
        ack = self.recv()
        assert ack == {"type": "AUTH_ACK", "protocolVersion": 1}, ack

    def send(self, message):
        self.ws.send(msgpack.packb(message))

    def recv(self, timeout=10):
        frame = self.ws.recv(timeout=timeout)
        assert isinstance(frame, bytes), f"expected a binary frame, got {frame!r}"
        return msgpack.unpackb(frame)

    def until(self, predicate, timeout=10):
        deadline = time.time() + timeout
        while True:
            m = self.recv(timeout=max(0.01, deadline - time.time()))
            if predicate(m):
                return m

    def stamp(self):
        self.counter += 1
        return {"millis": int(time.time() * 1000), "counter": self.counter, "nodeId": self.node}

    def put(self, map_name, key, value, op_id, concern="PERSISTED"):
        op = {"id": op_id, "mapName": map_name, "key": key, "opType": "PUT", "record": {"value": value, "timestamp": self.stamp()}}
        self.send({"type": "OP_BATCH", "payload": {"ops": [op], "writeConcern": concern}})
        ack = self.until(lambda m: m["type"] in ("OP_ACK", "OP_REJECTED", "ERROR"))
        assert ack["type"] == "OP_ACK" and ack["payload"]["lastId"] == op_id, ack
        return ack

    def merkle_sync(self, map_name, local):
        """TopGun's MerkleSyncHandler: compare roots, descend into differing buckets, merge leaves."""
        self.send({"type": "SYNC_INIT", "mapName": map_name, "lastSyncTimestamp": 0})
        root = self.until(lambda m: m["type"] == "SYNC_RESP_ROOT")["payload"]
        requests = 0
        if root["rootHash"] != local.hash(""):
            pending = [""]
            while pending:
                path = pending.pop()
                requests += 1
                self.send({"type": "MERKLE_REQ_BUCKET", "payload": {"mapName": map_name, "path": path}})
                reply = self.until(lambda m: m["type"] in ("SYNC_RESP_BUCKETS", "SYNC_RESP_LEAF"))
                if reply["type"] == "SYNC_RESP_LEAF":
                    for r in reply["payload"]["records"]:
                        local.put(r["key"], r["record"])
                    continue
                for digit, h in reply["payload"]["buckets"].items():
                    if h != local.hash(path + digit):
                        pending.append(path + digit)
        return root["rootHash"], requests

    def close(self):
        self.ws.close()


def closed_with(ws, send):
    try:
        ws.send(send)
        while True:
            ws.recv(timeout=10)
    except ConnectionClosed as e:
        return e.rcvd.code if e.rcvd else None


def scenario_auth():
    ws = connect(WS)
    assert msgpack.unpackb(ws.recv(timeout=10))["type"] == "AUTH_REQUIRED"
    code = closed_with(ws, msgpack.packb({"type": "PING", "timestamp": 1}))
    assert code == 4001, f"a PING before AUTH closed with {code}"
    ws = connect(WS)
    ws.recv(timeout=10)
    ws.send(msgpack.packb({"type": "AUTH", "token": jwt.encode({"sub": "x"}, "wrong-secret", algorithm="HS256")}))
    fail = msgpack.unpackb(ws.recv(timeout=10))
    assert fail["type"] == "AUTH_FAIL" and fail["error"], fail
    code = closed_with(ws, msgpack.packb({"type": "PING", "timestamp": 1}))
    assert code == 4001, f"a bad token closed with {code}"
    c = Client("ada")
    c.send({"type": "PING", "timestamp": 42})
    pong = c.until(lambda m: m["type"] == "PONG")
    assert pong["timestamp"] == 42 and pong["serverTime"] > 0, pong
    code = closed_with(c.ws, b"\xc1")
    assert code == 1002, f"a malformed frame closed with {code}"
    # The bare URL works too (where TopGun clients connect when given only the server).
    ws = connect(URL.replace("http://", "ws://") + "/")
    assert msgpack.unpackb(ws.recv(timeout=10))["type"] == "AUTH_REQUIRED"
    ws.close()
    # JSON text frames are answered in JSON.
    ws = connect(WS + "?format=json")
    assert json.loads(ws.recv(timeout=10))["type"] == "AUTH_REQUIRED"
    ws.send(json.dumps({"type": "AUTH", "token": token("ada", ["writer"])}))
    assert json.loads(ws.recv(timeout=10)) == {"type": "AUTH_ACK", "protocolVersion": 1}
    ws.close()
    print("ok auth before-auth=4001 bad-token=4001 malformed=1002 json-frames", flush=True)


def scenario_merkle():
    a = Client("ada")
    for i in range(60):
        a.put("notes", f"note-{i}", {"n": i, "text": f"hello {i}"}, f"a{i}")
    # From empty: every record arrives and the roots agree.
    b = Client("bo", roles=("reader",))
    local = Tree()
    root, full_requests = b.merkle_sync("notes", local)
    assert len(local.items) == 60, len(local.items)
    assert local.hash("") == root, (local.hash(""), root)
    assert local.items["note-7"]["value"] == {"n": 7, "text": "hello 7"}
    assert local.items["note-7"]["timestamp"]["nodeId"] == "py-ada"
    # From a partial state: drop five records, change one; the walk fetches only what differs.
    for k in ["note-1", "note-2", "note-3", "note-4", "note-5"]:
        del local.items[k]
    a.put("notes", "note-9", {"n": 9, "text": "changed"}, "a-change")
    root, partial_requests = b.merkle_sync("notes", local)
    assert len(local.items) == 60 and local.items["note-9"]["value"]["text"] == "changed"
    assert local.hash("") == root
    assert partial_requests < full_requests, (partial_requests, full_requests)
    # In sync: one round trip, no bucket requests.
    _, none = b.merkle_sync("notes", local)
    assert none == 0
    print(f"ok merkle from-empty={full_requests}-requests partial={partial_requests}-requests root={root}", flush=True)


def scenario_events_and_queries():
    a = Client("ada")
    b = Client("bo", roles=("reader",))
    b.send({"type": "SYNC_INIT", "mapName": "tasks"})
    b.until(lambda m: m["type"] == "SYNC_RESP_ROOT")
    b.send({"type": "QUERY_SUB", "payload": {"queryId": "open", "mapName": "tasks", "query": {"where": {"status": "open"}}}})
    resp = b.until(lambda m: m["type"] == "QUERY_RESP")
    assert resp["payload"]["queryId"] == "open" and resp["payload"]["results"] == [], resp

    def next_of(types):
        return b.until(lambda m: m["type"] in types)

    def events(m):
        return m["payload"]["events"] if m["type"] == "SERVER_BATCH_EVENT" else [m["payload"]]

    changes = []
    a.put("tasks", "t1", {"status": "open", "title": "write"}, "e1")
    ev = events(next_of(("SERVER_EVENT", "SERVER_BATCH_EVENT")))
    assert ev[0]["key"] == "t1" and ev[0]["eventType"] == "PUT" and ev[0]["record"]["value"]["title"] == "write", ev
    assert ev[0]["record"]["timestamp"]["nodeId"] == "py-ada"
    changes.append(next_of(("QUERY_UPDATE",))["payload"]["changeType"])
    a.put("tasks", "t1", {"status": "open", "title": "write more"}, "e2")
    changes.append(next_of(("QUERY_UPDATE",))["payload"]["changeType"])
    a.put("tasks", "t1", {"status": "done", "title": "write more"}, "e3")
    update = next_of(("QUERY_UPDATE",))["payload"]
    changes.append(update["changeType"])
    assert changes == ["ENTER", "UPDATE", "LEAVE"], changes
    assert update["queryId"] == "open" and update["key"] == "t1"
    # Topics.
    a.send({"type": "TOPIC_SUB", "payload": {"topic": "room"}})
    b.send({"type": "TOPIC_SUB", "payload": {"topic": "room"}})
    b.send({"type": "PING", "timestamp": 1})
    b.until(lambda m: m["type"] == "PONG")
    a.send({"type": "TOPIC_PUB", "payload": {"topic": "room", "data": {"hello": "world"}}})
    msg = next_of(("TOPIC_MESSAGE",))["payload"]
    assert msg["topic"] == "room" and msg["data"] == {"hello": "world"}, msg
    print("ok events-and-queries " + ",".join(changes) + " topic", flush=True)


def post_sync(body, content_type, tok):
    data = msgpack.packb(body) if "msgpack" in content_type else json.dumps(body).encode()
    req = urllib.request.Request(URL + "/sync", data=data, method="POST", headers={"Content-Type": content_type, "Authorization": "Bearer " + tok})
    with urllib.request.urlopen(req, timeout=10) as r:
        raw = r.read()
        return msgpack.unpackb(raw) if "msgpack" in r.headers["Content-Type"] else json.loads(raw)


def scenario_http_and_sse():
    tok = token("ada", ["writer"])
    now = int(time.time() * 1000)
    hlc = {"millis": now, "counter": 0, "nodeId": "http-client"}
    # curl -N follows the event stream from the start; it sees the HTTP writes.
    curl = subprocess.Popen(
        ["curl", "-s", "-N", "-H", "Authorization: Bearer " + tok, URL + "/events?maps=inbox&after=0"], stdout=subprocess.PIPE, text=True)
    ops = [{"id": f"h{i}", "mapName": "inbox", "key": f"m{i}", "opType": "PUT",
            "record": {"value": {"i": i}, "timestamp": {"millis": now + i, "counter": 0, "nodeId": "http-client"}}} for i in range(5)]
    answer = post_sync({"clientId": "http-client", "clientHlc": hlc, "operations": ops}, "application/x-msgpack", tok)
    assert answer["ack"]["lastId"] == "h4", answer
    delta = post_sync({"clientId": "http-client", "clientHlc": hlc, "syncMaps": [{"mapName": "inbox", "lastSyncTimestamp": {"millis": now + 2, "counter": 0, "nodeId": "http-client"}}],
                       "queries": [{"queryId": "q", "mapName": "inbox", "query": {"predicate": {"op": "gte", "attribute": "i", "value": 3}}}]}, "application/json", tok)
    keys = [r["key"] for r in delta["deltas"][0]["records"]]
    assert keys == ["m3", "m4"], delta
    assert sorted(r["key"] for r in delta["queryResults"][0]["results"]) == ["m3", "m4"], delta
    ids = read_sse(curl, 5)
    # Resume after the second event with Last-Event-ID: exactly the three after it.
    curl = subprocess.Popen(
        ["curl", "-s", "-N", "-H", "Authorization: Bearer " + tok, "-H", f"Last-Event-ID: {ids[1]}", URL + "/events?maps=inbox"],
        stdout=subprocess.PIPE, text=True)
    resumed = read_sse(curl, 3)
    assert resumed == ids[2:], (resumed, ids)
    print(f"ok http-and-sse post-sync=msgpack+json events={ids} resumed-after={ids[1]}", flush=True)


def read_sse(curl, count):
    ids, event = [], {}
    deadline = time.time() + 20
    try:
        for line in curl.stdout:
            line = line.rstrip("\n")
            if line.startswith("id: "):
                event["id"] = line[4:]
            elif line.startswith("data: "):
                event["data"] = json.loads(line[6:])
            elif line == "" and "id" in event:
                assert event["data"]["mapName"] == "inbox", event
                ids.append(event["id"])
                event = {}
                if len(ids) == count:
                    break
            assert time.time() < deadline, f"only {ids} from /events"
    finally:
        curl.kill()
        curl.wait()
    assert ids == sorted(ids) and len(ids) == count, ids
    return ids


try:
    for name in sys.argv[3:] or ["auth", "merkle", "events_and_queries", "http_and_sse"]:
        globals()["scenario_" + name]()
except BaseException:
    # On stdout: the test that runs this shows stdout.
    traceback.print_exc(file=sys.stdout)
    sys.exit(1)
