"""Forward-protocol clients for the sidecar's fluent source tests.

`logger`: the `fluent-logger` package (PyPI), a real third-party client, in Message mode.
`frames`: frames built with the `msgpack` package for every other mode (Forward,
PackedForward, CompressedPackedForward), EventTime, and `chunk` acks, plus the bad
connections (malformed bytes, an oversized frame) that must not disturb the good one.
Prints one JSON object on stdout; exits non-zero on any failure.
"""

import argparse
import gzip
import hashlib
import json
import socket
import struct
import sys
import time

import msgpack

METADATA = {
    "container_id": "5b1c0ffee",
    "container_name": "/ecs-aistudio-server-1",
    "source": "stdout",
    "ecs_cluster": "aistudio-dev",
    "ecs_task_arn": "arn:aws:ecs:eu-west-1:123456789012:task/aistudio-dev/0f1e",
    "ecs_task_definition": "aistudio-server:7",
}


def contract_log(seq):
    return json.dumps(
        {
            "level": "info",
            "message": f"job done for user{seq}@example.com",
            "event": "job.completed",
            "requestId": f"req-{seq:08}",
            "seq": seq,
        }
    )


def record(seq):
    if seq % 5 == 4:
        # A plain-text line: shipped as the message, with seq kept as a field.
        return dict(METADATA, log=f"plain text from user{seq}@example.com", seq=seq)
    return dict(METADATA, log=contract_log(seq))


def run_logger(args):
    from fluent import sender

    host = f"unix://{args.socket}" if args.socket else "127.0.0.1"
    logger = sender.FluentSender("server", host=host, port=args.port, timeout=10.0)
    for seq in range(args.start, args.start + args.count):
        if not logger.emit("stdout", record(seq)):
            print(json.dumps({"error": repr(logger.last_error)}))
            return 1
    logger.close()
    print(json.dumps({"sent": args.count}))
    return 0


def event_time(seconds, nanos):
    return msgpack.ExtType(0, struct.pack(">II", seconds, nanos))


def recv_frame(sock, unpacker):
    while True:
        for value in unpacker:
            return value
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("connection closed before the ack")
        unpacker.feed(data)


def closed_by_peer(sock, limit):
    sock.settimeout(limit)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def run_frames(args):
    base = int(time.time()) - 60
    times = {}
    seq = args.start

    def entry(n):
        nonlocal seq
        this = seq
        seq += 1
        nanos = 123_456_789 if n % 2 == 0 else 0
        secs = base + n
        times[this] = secs * 1000 + nanos // 1_000_000
        t = event_time(secs, nanos) if nanos else secs  # EventTime and integer times
        return t, record(this)

    frames = []
    n = 0
    for mode in ["message", "forward", "packed", "compressed"] * args.rounds:
        chunk = f"chunk-{len(frames)}"
        if mode == "message":
            t, rec = entry(n)
            n += 1
            frames.append([f"app.{mode}", t, rec, {"chunk": chunk}])
            continue
        entries = []
        for _ in range(args.per_frame):
            t, rec = entry(n)
            n += 1
            entries.append([t, rec])
        if mode == "forward":
            frames.append([f"app.{mode}", entries, {"chunk": chunk, "size": len(entries)}])
            continue
        packed = b"".join(msgpack.packb(e) for e in entries)
        option = {"chunk": chunk, "size": len(entries)}
        if mode == "compressed":
            packed = gzip.compress(packed)
            option["compressed"] = "gzip"
        frames.append([f"app.{mode}", packed, option])

    good = socket.create_connection(("127.0.0.1", args.port))
    unpacker = msgpack.Unpacker(raw=False)
    good.settimeout(30)
    acked = 0
    bad_closed = {}
    half = len(frames) // 2
    for index, frame in enumerate(frames):
        if index == half:
            # Bad connections in the middle of the good one's traffic.
            malformed = socket.create_connection(("127.0.0.1", args.port))
            malformed.sendall(b"\xc1\xc1\xc1 not msgpack at all")
            bad_closed["malformed"] = closed_by_peer(malformed, 10)
            oversized = socket.create_connection(("127.0.0.1", args.port))
            # A PackedForward frame announcing a 100 MB chunk: refused from its header.
            oversized.sendall(b"\x92\xa3app\xc6" + struct.pack(">I", 100_000_000) + b"x" * 1024)
            bad_closed["oversized"] = closed_by_peer(oversized, 10)
            half_open = socket.create_connection(("127.0.0.1", args.port))
            half_open.sendall(msgpack.packb(frame)[:7])  # and never more
        good.sendall(msgpack.packb(frame))
        reply = recv_frame(good, unpacker)
        if reply != {"ack": frame[-1]["chunk"]}:
            print(json.dumps({"error": f"unexpected reply {reply!r}"}))
            return 1
        acked += 1
    good.close()
    half_open.close()
    print(json.dumps({"acked": acked, "events": seq - args.start, "times": times, "bad_closed": bad_closed}))
    return 0


def run_resend(args):
    """PackedForward frames with `chunk` acks, as a client with require_ack_response sends
    them: a frame not acked (connection refused, closed, or timed out) is resent until it is."""
    deadline = time.monotonic() + args.deadline
    acked = []
    retries = 0
    sock = None
    unpacker = None
    now = int(time.time())
    for index in range(args.frames):
        first = args.start + index * args.per_frame
        entries = [[now, record(seq)] for seq in range(first, first + args.per_frame)]
        chunk = f"resend-{index}"
        frame = msgpack.packb(
            ["server.stdout", b"".join(msgpack.packb(e) for e in entries), {"chunk": chunk, "size": len(entries)}]
        )
        while True:
            if time.monotonic() > deadline:
                print(json.dumps({"error": "deadline", "acked": acked, "retries": retries}))
                return 1
            try:
                if sock is None:
                    sock = socket.create_connection(("127.0.0.1", args.port), timeout=5)
                    unpacker = msgpack.Unpacker(raw=False)
                sock.sendall(frame)
                reply = recv_frame(sock, unpacker)
                if reply == {"ack": chunk}:
                    acked.append(index)
                    break
                raise ConnectionError(f"unexpected reply {reply!r}")
            except (OSError, ConnectionError):
                retries += 1
                if sock is not None:
                    sock.close()
                sock = None
                time.sleep(0.1)
    if sock is not None:
        sock.close()
    print(json.dumps({"acked": acked, "retries": retries, "events": args.frames * args.per_frame}))
    return 0


def handshake(port, key, hostname="client-host", user=None):
    """Connects and runs the shared-key handshake (with user authentication when `user` is a
    (username, password) pair, as the forward protocol v1 specifies: the PING carries the
    username and sha512_hex(auth_salt + username + password), auth_salt from the HELO);
    returns (socket, unpacker, pong)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    unpacker = msgpack.Unpacker(raw=False)
    helo = recv_frame(sock, unpacker)
    assert helo[0] == "HELO", helo
    nonce = helo[1]["nonce"]
    nonce = nonce if isinstance(nonce, bytes) else nonce.encode()
    auth_salt = helo[1].get("auth", b"")
    auth_salt = auth_salt if isinstance(auth_salt, bytes) else auth_salt.encode()
    salt = b"0123456789abcdef"
    digest = hashlib.sha512(salt + hostname.encode() + nonce + key.encode()).hexdigest()
    username, password_digest = "", ""
    if user is not None:
        username = user[0]
        password_digest = hashlib.sha512(auth_salt + user[0].encode() + user[1].encode()).hexdigest()
    sock.sendall(msgpack.packb(["PING", hostname, salt, digest, username, password_digest]))
    pong = recv_frame(sock, unpacker)
    if pong[1]:
        # The server proves it knows the key too.
        want = hashlib.sha512(salt + pong[3].encode() + nonce + key.encode()).hexdigest()
        if pong[4] != want:
            raise AssertionError("the server's PONG digest is wrong")
    return sock, unpacker, pong


def run_auth(args):
    report = {}
    sock, unpacker, pong = handshake(args.port, args.key)
    report["pong_ok"] = pong[1]
    now = int(time.time())
    acked = 0
    for seq in range(args.start, args.start + args.count):
        sock.sendall(msgpack.packb(["server.stdout", now, record(seq), {"chunk": f"a{seq}"}]))
        if recv_frame(sock, unpacker) == {"ack": f"a{seq}"}:
            acked += 1
    sock.close()
    report["acked"] = acked
    wrong, _, pong = handshake(args.port, "not-the-key")
    report["wrong_key_pong"] = pong[1]
    report["wrong_key_closed"] = closed_by_peer(wrong, 10)
    # A client that skips the handshake: its message is refused and the connection closed.
    rude = socket.create_connection(("127.0.0.1", args.port), timeout=10)
    rude.sendall(msgpack.packb(["server.stdout", now, record(999_999), {"chunk": "x"}]))
    report["no_ping_closed"] = closed_by_peer(rude, 10)
    print(json.dumps(report))
    return 0


def run_users(args):
    """User authentication: the right password is heard, a wrong one and an unknown user get
    a refusing PONG (with its reason) and a closed connection."""
    report = {}
    sock, unpacker, pong = handshake(args.port, args.key, user=(args.user, args.password))
    report["pong_ok"] = pong[1]
    now = int(time.time())
    acked = 0
    for seq in range(args.start, args.start + args.count):
        sock.sendall(msgpack.packb(["server.stdout", now, record(seq), {"chunk": f"u{seq}"}]))
        if recv_frame(sock, unpacker) == {"ack": f"u{seq}"}:
            acked += 1
    sock.close()
    report["acked"] = acked
    for name, user in [
        ("wrong_password", (args.user, args.password + "-guess")),
        ("unknown_user", ("nobody", args.password)),
        ("no_user", None),
    ]:
        refused, _, pong = handshake(args.port, args.key, user=user)
        report[name] = {"pong": pong[1], "reason": pong[2], "closed": closed_by_peer(refused, 10)}
    print(json.dumps(report))
    return 0


def run_partials(args):
    """A line over 16 KiB as Docker's log driver splits it (partial_message, partial_id,
    partial_ordinal, partial_last), sent by fluent-logger (no acks: joined by the sidecar);
    the same split in frames that ask for acks (shipped part by part); and a line whose last
    part never comes (flushed when the connection closes)."""
    from fluent import sender

    line = json.dumps(
        {
            "level": "info",
            "event": "job.completed",
            "message": "long line for longuser@example.com " + "x" * 40_000,
            "seq": args.start,
        }
    )
    parts = [line[i : i + 16_384] for i in range(0, len(line), 16_384)]

    def part(i, pid, last=True):
        return dict(
            METADATA,
            log=parts[i],
            partial_message="true",
            partial_id=pid,
            partial_ordinal=str(i + 1),
            partial_last="true" if (last and i == len(parts) - 1) else "false",
        )

    logger = sender.FluentSender("server", port=args.port, timeout=10.0)
    for i in range(len(parts)):
        if not logger.emit("stdout", part(i, "joined")):
            print(json.dumps({"error": repr(logger.last_error)}))
            return 1
    # The unfinished one: two parts, never a last.
    for i in range(2):
        logger.emit("stdout", part(i, "unfinished", last=False))
    logger.close()

    sock = socket.create_connection(("127.0.0.1", args.port), timeout=10)
    unpacker = msgpack.Unpacker(raw=False)
    acked = 0
    for i in range(len(parts)):
        sock.sendall(msgpack.packb(["server.stdout", int(time.time()), part(i, "acked"), {"chunk": f"p{i}"}]))
        if recv_frame(sock, unpacker) == {"ack": f"p{i}"}:
            acked += 1
    sock.close()
    print(json.dumps({"parts": len(parts), "acked": acked, "line_bytes": len(line)}))
    return 0


def run_flood(args):
    """Many clients at once: `--connections` connections each send one acked Message, while
    malformed connections, a real 100 MB frame and half-open connections come and go."""
    now = int(time.time())
    half_open = []
    for _ in range(5):
        sock = socket.create_connection(("127.0.0.1", args.port), timeout=30)
        sock.sendall(msgpack.packb(["server.stdout", now, record(0)])[:9])  # never finished
        half_open.append(sock)
    good = []
    malformed_closed = 0
    for i in range(args.connections):
        seq = args.start + i
        sock = socket.create_connection(("127.0.0.1", args.port), timeout=30)
        sock.sendall(msgpack.packb(["server.stdout", now, record(seq), {"chunk": f"f{seq}"}]))
        good.append((sock, f"f{seq}"))
        if i % 5 == 0:
            bad = socket.create_connection(("127.0.0.1", args.port), timeout=30)
            bad.sendall(bytes([0xC1]) * 64 + b"garbage")
            malformed_closed += closed_by_peer(bad, 10)
            bad.close()
    big_refused = False
    big = socket.create_connection(("127.0.0.1", args.port), timeout=30)
    try:
        big.sendall(b"\x92\xa3app\xc6" + struct.pack(">I", 100_000_000) + bytes(100_000_000))
        big_refused = closed_by_peer(big, 10)
    except OSError:
        big_refused = True
    big.close()
    acked = 0
    for sock, chunk in good:
        if recv_frame(sock, msgpack.Unpacker(raw=False)) == {"ack": chunk}:
            acked += 1
        sock.close()
    for sock in half_open:
        sock.close()
    print(json.dumps({"acked": acked, "malformed_closed": malformed_closed, "big_refused": big_refused}))
    return 0


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    logger = sub.add_parser("logger")
    logger.add_argument("--socket")
    logger.add_argument("--port", type=int, default=24224)
    logger.add_argument("--start", type=int, default=0)
    logger.add_argument("--count", type=int, required=True)
    frames = sub.add_parser("frames")
    frames.add_argument("--port", type=int, required=True)
    frames.add_argument("--start", type=int, default=0)
    frames.add_argument("--rounds", type=int, default=2)
    frames.add_argument("--per-frame", type=int, default=50)
    resend = sub.add_parser("resend")
    resend.add_argument("--port", type=int, required=True)
    resend.add_argument("--start", type=int, default=0)
    resend.add_argument("--frames", type=int, required=True)
    resend.add_argument("--per-frame", type=int, default=100)
    resend.add_argument("--deadline", type=float, default=90)
    auth = sub.add_parser("auth")
    auth.add_argument("--port", type=int, required=True)
    auth.add_argument("--key", required=True)
    auth.add_argument("--start", type=int, default=0)
    auth.add_argument("--count", type=int, default=20)
    users = sub.add_parser("users")
    users.add_argument("--port", type=int, required=True)
    users.add_argument("--key", required=True)
    users.add_argument("--user", required=True)
    users.add_argument("--password", required=True)
    users.add_argument("--start", type=int, default=0)
    users.add_argument("--count", type=int, default=10)
    partials = sub.add_parser("partials")
    partials.add_argument("--port", type=int, required=True)
    partials.add_argument("--start", type=int, default=0)
    flood = sub.add_parser("flood")
    flood.add_argument("--port", type=int, required=True)
    flood.add_argument("--start", type=int, default=0)
    flood.add_argument("--connections", type=int, default=1000)
    args = parser.parse_args()
    commands = {"flood": run_flood, "partials": run_partials, "logger": run_logger, "frames": run_frames, "resend": run_resend, "auth": run_auth, "users": run_users}
    return commands[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
