"""OTLP/HTTP logs for the sidecar's OTLP source tests, sent by the OpenTelemetry Python SDK's
own exporter (`opentelemetry-exporter-otlp-proto-http`, PyPI) through the standard `logging`
bridge, with or without gzip. Prints one JSON object with the exporter's results; exits
non-zero when an export did not succeed.
"""

import argparse
import json
import logging
import sys

from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider


class Recording(OTLPLogExporter):
    """The SDK's exporter, remembering what each export returned."""

    results = []

    def export(self, batch):
        result = super().export(batch)
        Recording.results.append(result.name)
        return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--gzip", action="store_true")
    args = parser.parse_args()

    provider = LoggerProvider(resource=Resource.create({"service.name": "aistudio-server"}))
    exporter = Recording(
        endpoint=args.endpoint,
        timeout=10,
        compression=Compression.Gzip if args.gzip else Compression.NoCompression,
    )
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter, max_export_batch_size=100))
    logger = logging.getLogger("aistudio")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(LoggingHandler(logger_provider=provider))
    tracer = TracerProvider().get_tracer("aistudio")

    for seq in range(args.start, args.start + args.count):
        line = json.dumps(
            {
                "message": f"job done for user{seq}@example.com",
                "event": "job.completed",
                "requestId": f"req-{seq:08}",
                "seq": seq,
            }
        )
        if seq % 3 == 0:
            with tracer.start_as_current_span("job"):
                logger.warning(line)
        else:
            logger.info(line)
    provider.force_flush()
    provider.shutdown()
    ok = bool(Recording.results) and all(r == "SUCCESS" for r in Recording.results)
    print(json.dumps({"results": Recording.results, "sent": args.count}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
