"""Sends a workload file (W1) to a Fluent forward listener as PackedForward chunks, the way
Fluent Bit's forward output does: each line becomes the `log` field of a FireLens-style record
(container and ECS metadata beside it), 1,000 records per chunk. Frames are built before the
first byte is sent, so the sender's encoding is not timed against the sidecar.
  python3 scripts/forward_w1.py W1_FILE PORT
With FORWARD_BARE=1 the records carry only `log` (the source's own cost, without the
metadata the redactor then also scans).
"""

import os
import socket
import sys
import time

import msgpack

CHUNK_RECORDS = 1000
TAG = "server.stdout"
METADATA = {
    "container_id": "5b1c0ffee",
    "container_name": "/ecs-aistudio-server-1",
    "source": "stdout",
    "ecs_cluster": "aistudio-bench",
    "ecs_task_arn": "arn:aws:ecs:us-east-1:111122223333:task/aistudio-bench/0f1e",
    "ecs_task_definition": "aistudio-server:1",
}


def main():
    path, port = sys.argv[1], int(sys.argv[2])
    now = int(time.time())
    metadata = {} if os.environ.get("FORWARD_BARE") == "1" else METADATA
    frames = []
    entries = []
    with open(path, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            entries.append(msgpack.packb([now, dict(metadata, log=line.rstrip("\n"))]))
            if len(entries) == CHUNK_RECORDS:
                frames.append(msgpack.packb([TAG, b"".join(entries)]))
                entries = []
    if entries:
        frames.append(msgpack.packb([TAG, b"".join(entries)]))
    sock = socket.create_connection(("127.0.0.1", port))
    for frame in frames:
        sock.sendall(frame)
    sock.close()


if __name__ == "__main__":
    main()
