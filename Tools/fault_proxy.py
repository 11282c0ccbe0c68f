#!/usr/bin/env python3
"""A fault-injecting HTTP proxy for tests of the S3 client: listens on 127.0.0.1, forwards each
request to the upstream S3 server unchanged (so SigV4 signatures stay valid), and instead, at
random, answers 503 SlowDown or 500 InternalError, resets the connection, or stalls. SIGUSR1
makes it hold every request (an unreachable bucket) until the next SIGUSR1, which forwards them.

Usage: fault_proxy.py UPSTREAM_HOST:PORT [--rate 0.3] [--seed N] [--stall 5] [--owner PID] [--stats FILE]
Prints the port it listens on, then serves until killed (or until OWNER exits). One request per
connection (answers carry Connection: close). Counts per fault are printed to stderr on exit and kept up to date in FILE (JSON)."""
import argparse, asyncio, json, os, random, signal, socket, struct, sys

counts = {"forwarded": 0, "slowdown": 0, "error500": 0, "reset": 0, "stall": 0, "held": 0}
# Set while requests pass; cleared while SIGUSR1 has them held.
passing = None


def xml_error(code, message):
    body = f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}</Message></Error>'.encode()
    status = {"SlowDown": "503 Slow Down", "InternalError": "500 Internal Server Error"}[code]
    return (f"HTTP/1.1 {status}\r\nContent-Type: application/xml\r\nContent-Length: {len(body)}\r\n"
            f"Connection: close\r\n\r\n").encode() + body


async def read_message(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    body = await reader.readexactly(length) if length else b""
    return head, body


def save_stats(args):
    if args.stats:
        with open(args.stats + ".tmp", "w") as f:
            json.dump(counts, f)
        os.replace(args.stats + ".tmp", args.stats)


async def handle(reader, writer, args, rnd):
    try:
        await handle_request(reader, writer, args, rnd)
    finally:
        save_stats(args)


async def handle_request(reader, writer, args, rnd):
    try:
        head, body = await read_message(reader)
        if not passing.is_set():
            counts["held"] += 1
            save_stats(args)
            await passing.wait()
        roll = rnd.random()
        if roll < args.rate:
            fault = rnd.choice(["slowdown", "error500", "reset", "stall"])
            counts[fault] += 1
            if fault == "slowdown":
                writer.write(xml_error("SlowDown", "Please reduce your request rate."))
            elif fault == "error500":
                writer.write(xml_error("InternalError", "We encountered an internal error. Please try again."))
            elif fault == "reset":
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()
                return
            else:
                await asyncio.sleep(args.stall)
                writer.transport.abort()
                return
            await writer.drain()
            writer.close()
            return
        counts["forwarded"] += 1
        up_reader, up_writer = await asyncio.open_connection(args.host, args.port)
        # One request per connection upstream too.
        lines = head.split(b"\r\n")
        kept = [l for l in lines[1:] if not l.lower().startswith(b"connection:")]
        up_writer.write(b"\r\n".join([lines[0]] + [l for l in kept if l] + [b"Connection: close", b"", b""]) + body)
        await up_writer.drain()
        response = await up_reader.read()  # until upstream closes
        up_writer.close()
        # Tell the client the connection ends here.
        if b"\r\nConnection:" not in response.split(b"\r\n\r\n", 1)[0]:
            response = response.replace(b"\r\n", b"\r\nConnection: close\r\n", 1)
        writer.write(response)
        await writer.drain()
        writer.close()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


async def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("upstream")
    ap.add_argument("--rate", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--stall", type=float, default=5.0)
    ap.add_argument("--owner", type=int)
    ap.add_argument("--stats")
    args = ap.parse_args()
    args.host, port = args.upstream.rsplit(":", 1)
    args.port = int(port)
    rnd = random.Random(args.seed)
    global passing
    passing = asyncio.Event()
    passing.set()
    server = await asyncio.start_server(lambda r, w: handle(r, w, args, rnd), "127.0.0.1", 0)
    def finish(*_):
        print(" ".join(f"{k}={v}" for k, v in counts.items()), file=sys.stderr, flush=True)
        os._exit(0)  # do not wait for stalled connections

    # A test's thread may start this with signals blocked (the mask is inherited): unblock ours.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGUSR1})
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, finish)
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, lambda: passing.clear() if passing.is_set() else passing.set())
    print(server.sockets[0].getsockname()[1], flush=True)  # after the handlers: a signal from now on is handled
    while True:
        if args.owner:
            try:
                os.kill(args.owner, 0)
            except ProcessLookupError:
                finish()
        await asyncio.sleep(1)


if __name__ == "__main__":
    asyncio.run(main())
