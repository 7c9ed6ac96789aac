"""OTLP/HTTP metrics for the sidecar's OTLP source tests, sent by the OpenTelemetry Python
SDK's own metric exporter (`opentelemetry-exporter-otlp-proto-http`, PyPI): a counter, an
explicit-bucket histogram, an exponential histogram and an observable gauge, named after
catalog metrics, with cumulative (the SDK's default) or delta temporality, with or without
gzip. Prints one JSON object with the exporter's results and what was recorded; exits
non-zero when an export did not succeed.
"""

import argparse
import json
import sys

from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.metrics import Observation
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.metrics.view import (
    ExplicitBucketHistogramAggregation,
    ExponentialBucketHistogramAggregation,
    View,
)
from opentelemetry.sdk.resources import Resource


class Recording(OTLPMetricExporter):
    """The SDK's exporter, remembering what each export returned."""

    results = []

    def export(self, metrics_data, timeout_millis=10_000, **kwargs):
        result = super().export(metrics_data, timeout_millis=timeout_millis, **kwargs)
        Recording.results.append(result.name)
        return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--provider", required=True, help="the provider attribute's value")
    parser.add_argument("--delta", action="store_true")
    parser.add_argument("--gzip", action="store_true")
    args = parser.parse_args()

    temporality = {}
    if args.delta:
        temporality = {
            Counter: AggregationTemporality.DELTA,
            Histogram: AggregationTemporality.DELTA,
        }
    exporter = Recording(
        endpoint=args.endpoint,
        timeout=10,
        compression=Compression.Gzip if args.gzip else Compression.NoCompression,
        preferred_temporality=temporality,
    )
    # The periodic export never fires on its own during the run: the exports are the
    # explicit flush and the shutdown's, so what was sent is known.
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    views = [
        View(
            instrument_name="ResponseTimeMs",
            aggregation=ExplicitBucketHistogramAggregation(boundaries=[10.0, 20.0, 30.0]),
        ),
        View(
            instrument_name="TimeToFirstTokenMs",
            aggregation=ExponentialBucketHistogramAggregation(max_size=160),
        ),
    ]
    provider = MeterProvider(
        metric_readers=[reader],
        views=views,
        resource=Resource.create({"service.name": "aistudio-server"}),
    )
    meter = provider.get_meter("aistudio")

    attrs = {"provider": args.provider}
    tokens = meter.create_counter("TokensStreamed", unit="{token}")
    for _ in range(10):
        tokens.add(7, attrs)
    # Values whose buckets' representatives are the values themselves: 15 and 25 are the
    # middles of (10, 20] and (20, 30]; 5 and 35 are the histogram's min and max.
    response = meter.create_histogram("ResponseTimeMs", unit="ms")
    endpoint = {"endpoint": f"/v1/{args.provider}"}
    response_values = [15, 15, 15, 25, 25, 5, 35]
    for value in response_values:
        response.record(value, endpoint)
    first_token = meter.create_histogram("TimeToFirstTokenMs", unit="s")
    first_token_values = [0.1, 0.1, 0.1, 0.1, 0.2, 0.2]
    for value in first_token_values:
        first_token.record(value, attrs)
    meter.create_observable_gauge(
        "ProcessingLatencyMs",
        callbacks=[lambda _options: [Observation(420, attrs)]],
        unit="ms",
    )

    provider.force_flush()
    provider.shutdown()
    ok = bool(Recording.results) and all(r == "SUCCESS" for r in Recording.results)
    print(
        json.dumps(
            {
                "results": Recording.results,
                "tokens": 70,
                "response_count": len(response_values),
                "response_sum": sum(response_values),
                "first_token_count": len(first_token_values),
                "first_token_sum_ms": sum(first_token_values) * 1000,
            }
        )
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
