#!/usr/bin/env python3
"""The test harness's AWS emulator: moto, behind a protocol gateway for CloudWatch.

The official `aws-sdk-cloudwatch` crate speaks only Smithy RPC v2 CBOR; moto serves
CloudWatch as AWS JSON 1.0 (and query). This WSGI middleware translates CBOR requests to
JSON 1.0 using botocore's service model (timestamps <-> CBOR tag 1, blobs <-> byte strings,
doubles always floats, gzip bodies inflated), and moto's JSON answers back to CBOR. Every
other request (CloudWatch Logs, SNS, query-protocol CloudWatch from the AWS CLI) passes
through to moto untouched.

It also injects faults on demand for the delivery drills: `POST /_gateway/faults` with
`{"operation": "PutLogEvents", "status": 400, "code": "ThrottlingException", "count": 3}`
answers the next `count` matching calls with that error (with `"after": true`, after the
call was applied: an answer lost on the way back); `DELETE /_gateway/faults` clears.
`GET /_gateway/calls` returns how many calls of each operation reached the gateway, with
request body sizes, so tests can check batching. `POST /_gateway/outage` with `{"seconds": 60}`
stops the listening endpoint for real (connections are refused) and starts it again on the
same port afterwards, with moto's state intact: an AWS outage as a client sees it.

Prints `READY <port>` on stdout once it accepts connections; exits on SIGTERM or when
stdin closes (so a crashed test harness never leaves it behind).
"""

import base64
import gzip
import json
import os
import signal
import sys
import threading
import time

try:
    import botocore.session
    import cbor2
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        create_backend_app,
    )
    from werkzeug.serving import make_server
except ImportError as err:  # pragma: no cover - reported to the Rust harness verbatim
    sys.stderr.write(
        f"emulator: missing python package ({err}); install with: "
        "python3 -m pip install 'moto[server]' cbor2 awscli\n"
    )
    sys.exit(3)

CBOR_PATH_PREFIX = "/service/GraniteServiceVersion20100801/operation/"
JSON_TARGET_PREFIX = "GraniteServiceVersion20100801."
CBOR_TAG_EPOCH = 1

MODEL = botocore.session.get_session().get_service_model("cloudwatch")


def cbor_to_json(value, shape):
    """Converts a decoded CBOR value to what the JSON 1.0 protocol carries for `shape`."""
    if value is None or shape is None:
        return value
    kind = shape.type_name
    if kind == "structure":
        return {
            name: cbor_to_json(member, shape.members.get(name))
            for name, member in value.items()
        }
    if kind == "list":
        return [cbor_to_json(item, shape.member) for item in value]
    if kind == "map":
        return {key: cbor_to_json(item, shape.value) for key, item in value.items()}
    if kind == "timestamp":
        if isinstance(value, cbor2.CBORTag):
            value = value.value
        if hasattr(value, "timestamp"):
            return value.timestamp()
        return float(value)
    if kind == "blob":
        return base64.b64encode(bytes(value)).decode("ascii")
    return value


def json_to_cbor(value, shape):
    """Converts a JSON 1.0 response value to its RPC v2 CBOR encoding for `shape`."""
    if value is None or shape is None:
        return value
    kind = shape.type_name
    if kind == "structure":
        out = {}
        for name, member in value.items():
            if name in shape.members and member is not None:
                out[name] = json_to_cbor(member, shape.members[name])
        return out
    if kind == "list":
        return [json_to_cbor(item, shape.member) for item in value]
    if kind == "map":
        return {key: json_to_cbor(item, shape.value) for key, item in value.items()}
    if kind == "timestamp":
        if isinstance(value, str):
            from datetime import datetime

            seconds = datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        else:
            seconds = float(value)
        return cbor2.CBORTag(CBOR_TAG_EPOCH, float(seconds))
    if kind in ("double", "float"):
        # The Rust decoder rejects an integer where the model says double.
        return float(value)
    if kind in ("integer", "long"):
        return int(value)
    if kind == "blob":
        return base64.b64decode(value)
    return value


class Faults:
    """Pending injected errors, by operation name."""

    def __init__(self):
        self.lock = threading.Lock()
        self.pending = []
        self.calls = {}

    def set(self, spec):
        with self.lock:
            self.pending.append(
                {
                    "operation": spec["operation"],
                    "status": int(spec.get("status", 400)),
                    "code": spec.get("code", "ThrottlingException"),
                    "count": int(spec.get("count", 1)),
                    # True: the call reaches moto and is applied, then the answer is
                    # replaced by the error (an answer lost on the way back).
                    "after": bool(spec.get("after", False)),
                }
            )

    def clear(self):
        with self.lock:
            self.pending.clear()

    def record(self, operation, size):
        with self.lock:
            entry = self.calls.setdefault(operation, {"count": 0, "bytes": []})
            entry["count"] += 1
            entry["bytes"].append(size)

    def take(self, operation):
        with self.lock:
            for fault in self.pending:
                if fault["operation"] == operation and fault["count"] > 0:
                    fault["count"] -= 1
                    return fault
        return None


def operation_of(environ):
    """The AWS operation a request calls, whatever its protocol."""
    path = environ.get("PATH_INFO", "")
    if path.startswith(CBOR_PATH_PREFIX):
        return path[len(CBOR_PATH_PREFIX) :]
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return target.rsplit(".", 1)[-1]
    return None


class Endpoint:
    """The listening socket, which an outage closes and reopens on the same port."""

    def __init__(self, app, port):
        self.app = app
        self.port = port
        self.server = None
        self.lock = threading.Lock()

    def start(self):
        self.server = make_server("127.0.0.1", self.port, self.app, threaded=True)
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def outage(self, seconds):
        def run():
            with self.lock:
                server = self.server
                server.shutdown()
                server.server_close()
                time.sleep(seconds)
                self.start()

        threading.Thread(target=run, daemon=True).start()


class Gateway:
    """WSGI middleware in front of moto."""

    def __init__(self, inner):
        self.inner = inner
        self.faults = Faults()
        self.endpoint = None

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_gateway/"):
            return self.control(environ, start_response)
        body = read_body(environ)
        operation = operation_of(environ)
        if operation is None and body:
            # Query protocol (the AWS CLI for SNS and CloudWatch): Action=... in the form.
            for pair in body.split(b"&"):
                if pair.startswith(b"Action="):
                    operation = pair[len(b"Action=") :].decode("ascii", "replace")
        if operation:
            self.faults.record(operation, len(body))
            fault = self.faults.take(operation)
            if fault is not None:
                if fault["after"]:
                    self.apply_and_discard(environ, operation, body)
                return self.inject(environ, start_response, fault)
        if path.startswith(CBOR_PATH_PREFIX):
            return self.cbor(environ, start_response, operation, body)
        environ["wsgi.input"] = _Body(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        if operation == "PutLogEvents":
            return self.put_log_events(environ, start_response)
        return self.inner(environ, start_response)

    def apply_and_discard(self, environ, operation, body):
        """Serves the call as usual and throws the answer away."""
        environ["wsgi.input"] = _Body(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        if environ.get("PATH_INFO", "").startswith(CBOR_PATH_PREFIX):
            chunks = self.cbor(environ, lambda *a, **k: (lambda data: None), operation, body)
        else:
            chunks = self.inner(environ, lambda *a, **k: (lambda data: None))
        try:
            b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()

    def put_log_events(self, environ, start_response):
        """moto 5.2 reports `tooOldLogEventEndIndex` as the index of the last too-old event;
        CloudWatch documents it as exclusive (one past it). Translate to the real semantics."""
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"] = status
            captured["headers"] = headers
            return lambda data: None

        chunks = self.inner(environ, capture)
        try:
            raw = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        try:
            decoded = json.loads(raw) if raw.strip() else None
        except ValueError:
            decoded = None
        info = decoded.get("rejectedLogEventsInfo") if isinstance(decoded, dict) else None
        if isinstance(info, dict) and "tooOldLogEventEndIndex" in info:
            info["tooOldLogEventEndIndex"] += 1
            raw = json.dumps(decoded).encode()
        headers = [(k, v) for k, v in captured.get("headers", []) if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(raw))))
        start_response(captured.get("status", "500 Internal Server Error"), headers)
        return [raw]

    def control(self, environ, start_response):
        method = environ.get("REQUEST_METHOD")
        if method == "POST" and environ.get("PATH_INFO") == "/_gateway/outage":
            spec = json.loads(read_body(environ) or b"{}")
            self.endpoint.outage(float(spec.get("seconds", 60)))
            payload = b"{}"
        elif method == "POST":
            self.faults.set(json.loads(read_body(environ) or b"{}"))
            payload = b"{}"
        elif method == "DELETE":
            self.faults.clear()
            payload = b"{}"
        else:
            with self.faults.lock:
                payload = json.dumps(self.faults.calls).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [payload]

    def inject(self, environ, start_response, fault):
        status = f"{fault['status']} Injected"
        message = f"injected by the test gateway: {fault['code']}"
        if environ.get("PATH_INFO", "").startswith(CBOR_PATH_PREFIX):
            payload = cbor2.dumps({"__type": fault["code"], "message": message})
            headers = [
                ("Content-Type", "application/cbor"),
                ("smithy-protocol", "rpc-v2-cbor"),
                ("x-amzn-query-error", f"{fault['code']};Sender"),
            ]
        else:
            payload = json.dumps({"__type": fault["code"], "message": message}).encode()
            headers = [
                ("Content-Type", "application/x-amz-json-1.1"),
                ("x-amzn-ErrorType", fault["code"]),
            ]
        start_response(status, headers + [("Content-Length", str(len(payload)))])
        return [payload]

    def cbor(self, environ, start_response, operation, body):
        if environ.get("HTTP_CONTENT_ENCODING", "").lower() == "gzip":
            body = gzip.decompress(body)
        op_model = MODEL.operation_model(operation)
        request = cbor2.loads(body) if body else {}
        as_json = json.dumps(cbor_to_json(request, op_model.input_shape)).encode()
        environ["wsgi.input"] = _Body(as_json)
        environ["CONTENT_LENGTH"] = str(len(as_json))
        environ["CONTENT_TYPE"] = "application/x-amz-json-1.0"
        environ["HTTP_X_AMZ_TARGET"] = JSON_TARGET_PREFIX + operation
        environ["PATH_INFO"] = "/"
        environ.pop("HTTP_CONTENT_ENCODING", None)
        environ.pop("HTTP_SMITHY_PROTOCOL", None)

        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"] = status
            captured["headers"] = headers
            return lambda data: None

        chunks = self.inner(environ, capture)
        try:
            raw = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        status = captured.get("status", "500 Internal Server Error")
        code = int(status.split(" ", 1)[0])
        decoded = json.loads(raw) if raw.strip() else {}
        if code >= 300:
            error_type = decoded.get("__type", "InternalFailure")
            error_type = error_type.rsplit("#", 1)[-1]
            payload = {
                "__type": error_type,
                "message": decoded.get("message") or decoded.get("Message") or "",
            }
        else:
            payload = json_to_cbor(decoded, op_model.output_shape) or {}
        out = cbor2.dumps(payload)
        headers = [
            ("Content-Type", "application/cbor"),
            ("smithy-protocol", "rpc-v2-cbor"),
            ("Content-Length", str(len(out))),
        ]
        for name, value in captured.get("headers", []):
            if name.lower() in ("x-amzn-query-error", "x-amzn-requestid"):
                headers.append((name, value))
        start_response(status, headers)
        return [out]


class _Body:
    """A re-readable request body for the inner application."""

    def __init__(self, data):
        self.data = data
        self.pos = 0

    def read(self, size=-1):
        if size is None or size < 0:
            size = len(self.data) - self.pos
        chunk = self.data[self.pos : self.pos + size]
        self.pos += len(chunk)
        return chunk

    def readline(self, size=-1):
        end = self.data.find(b"\n", self.pos)
        end = len(self.data) if end < 0 else end + 1
        if size is not None and size >= 0:
            end = min(end, self.pos + size)
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk


def read_body(environ):
    length = environ.get("CONTENT_LENGTH") or "0"
    try:
        length = int(length)
    except ValueError:
        length = 0
    stream = environ["wsgi.input"]
    if length > 0:
        return stream.read(length)
    if environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked":
        return stream.read()
    return b""


def main():
    port = int(os.environ.get("EMULATOR_PORT", "0"))
    app = Gateway(DomainDispatcherApplication(create_backend_app))
    endpoint = Endpoint(app, port)
    app.endpoint = endpoint
    endpoint.start()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))

    def watch_stdin():
        # The harness holds our stdin open; EOF means it is gone.
        try:
            while sys.stdin.buffer.read(1):
                pass
        finally:
            os._exit(0)

    sys.stdout.write(f"READY {endpoint.port}\n")
    sys.stdout.flush()
    if os.environ.get("EMULATOR_WATCH_STDIN", "1") == "1":
        watch_stdin()
    else:
        threading.Event().wait()


if __name__ == "__main__":
    main()
