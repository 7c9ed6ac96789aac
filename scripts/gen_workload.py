#!/usr/bin/env python3
"""Deterministic generator of streaming-server structured log lines (NDJSON).

Each line follows the LogEntry shape of the operations guide: timestamp, level,
message, requestId, jobId, userId, provider, modelId, duration, error.
About one line in ten carries personal data or a secret, in a field or in the
free-text message, so that redaction has real work to do.

W1, the standard benchmark workload, is `scripts/gen_workload.py 1000000 7` (1,000,000
lines, about 220 MB, ~20 s to generate: cache it outside the repository, e.g. /tmp/w1.ndjson).
The output is deterministic for a seed, so figures measured on W1 compare across runs and
machines. Quote whole-process figures as lines per CPU-second (user + sys) and peak RSS.

usage: scripts/gen_workload.py LINES [SEED] > out.ndjson
"""
import json, random, sys
from datetime import datetime, timedelta, timezone

def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
    rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 7)
    providers = [("openai", "gpt-4o"), ("bedrock", "anthropic.claude-3-5-sonnet"),
                 ("google", "gemini-1.5-pro"), ("azure", "gpt-4o-mini")]
    events = ["stream started", "first token received", "stream completed",
              "job created", "job completed", "provider request", "db query"]
    first = ["alice", "bob", "carol", "dan", "erin", "frank", "grace", "heidi"]
    t0 = datetime(2026, 11, 1, tzinfo=timezone.utc)
    out = sys.stdout
    for i in range(n):
        ts = (t0 + timedelta(milliseconds=i * 3)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        prov, model = providers[rng.randrange(4)]
        rec = {"timestamp": ts, "level": "info", "message": events[rng.randrange(len(events))],
               "requestId": "req-%08x" % rng.getrandbits(32), "jobId": "job-%08x" % rng.getrandbits(32),
               "userId": str(rng.randrange(1, 5000)), "provider": prov, "modelId": model,
               "duration": rng.randrange(5, 9000)}
        r = rng.random()
        if r < 0.03:
            rec["level"] = "error"
            rec["message"] = "provider call failed"
            rec["error"] = {"name": "ProviderError", "message": "429 Too Many Requests from %s" % prov,
                            "stack": "Error: 429\n    at callProvider (provider.ts:88:11)\n    at stream (route.ts:41:5)"}
        elif r < 0.05:
            rec["message"] = "login from %s.%d@example.com" % (first[rng.randrange(8)], rng.randrange(100))
        elif r < 0.07:
            rec["phone"] = "+1-555-%03d-%04d" % (rng.randrange(1000), rng.randrange(10000))
            rec["message"] = "sms verification sent"
        elif r < 0.08:
            rec["apiKey"] = "sk-" + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(40))
        elif r < 0.09:
            rec["message"] = "auth header Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIx%d\".sig%d" % (i, i)
            rec["message"] = rec["message"].replace('"', "")
        elif r < 0.10:
            rec["message"] = "payment card 4111 1111 1111 1111 declined"
        out.write(json.dumps(rec, separators=(",", ":")))
        out.write("\n")

if __name__ == "__main__":
    main()
