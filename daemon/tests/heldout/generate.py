#!/usr/bin/env python3
"""Held-out labelled corpus for the redactor, made independently of `daemon/tests/corpus/mod.rs`.

A different method (the `faker` package, 16 locales, Python's own PRNG) and different shapes:
plain-text panics and library messages with secrets that nothing names, logfmt, CRI-prefixed,
BOM-prefixed and truncated JSON, HAR-style header lists, escaped JSON (`\\u0040`, values split
across escapes), PII in JSON keys, URLs with credentials of any scheme, PEM blocks, cloud
connection strings, IBANs, Discord webhooks, harmless and secret base64 blobs, and the shapes
logs are full of (hex digests, UUIDs, trace ids, ARNs, paths, model ids, user agents, ...).

Every value is labelled: `secrets` must be gone from the redacted line (in every form it was
written in), `harmless` must survive byte for byte. The rules are never tuned on the committed
file: tune on a dev split made with another seed.

    pip install faker==40.54.0
    python3 daemon/tests/heldout/generate.py --seed 18 --lines 6000 > daemon/tests/heldout/heldout.jsonl
    python3 daemon/tests/heldout/generate.py --seed 1818 --lines 6000 > target/redact-dev.jsonl
"""

import argparse
import base64
import datetime
import json
import random
import string
import struct
import sys
import zlib

from faker import Faker

FAKER_VERSION = "40.54.0"
LOCALES = [
    "en_US", "de_DE", "fr_FR", "ja_JP", "pt_BR", "es_ES", "it_IT", "nl_NL",
    "pl_PL", "en_GB", "en_IN", "ko_KR", "zh_CN", "ru_RU", "tr_TR", "sv_SE",
]

B64 = string.ascii_letters + string.digits + "+/"
B64URL = string.ascii_letters + string.digits + "-_"
ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
# fixed bounds: faker's defaults are relative to "now", which would change the file every run
EPOCH_START = datetime.datetime(2024, 1, 1)
EPOCH_END = datetime.datetime(2026, 11, 30)


class Gen:
    def __init__(self, seed):
        Faker.seed(seed)
        self.fake = Faker(LOCALES)
        self.r = random.Random(seed * 7919 + 1)

    # ---- helpers -------------------------------------------------------------------------
    def loc(self):
        return self.fake[self.r.choice(LOCALES)]

    def rs(self, alphabet, n):
        return "".join(self.r.choice(alphabet) for _ in range(n))

    def ts(self):
        d = self.fake.date_time_between(start_date=EPOCH_START, end_date=EPOCH_END)
        return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{self.r.randrange(1000):03d}Z"

    # ---- secrets -------------------------------------------------------------------------
    def unnamed_password(self):
        n = self.r.randint(14, 24)
        return self.fake.password(length=n, special_chars=True, digits=True,
                                  upper_case=True, lower_case=True)

    def session_token(self):
        n = self.r.randint(20, 40)
        while True:
            t = self.rs(ALNUM, n)
            if any(c.isdigit() for c in t) and any(c.isupper() for c in t) and any(c.islower() for c in t):
                return t

    def keyed_value(self):
        k = self.r.randrange(4)
        if k == 0:
            return self.fake.password(length=self.r.randint(8, 16))
        if k == 1:
            return self.fake.word() + str(self.r.randint(10, 9999))
        if k == 2:
            return self.rs(HEX, 32)
        return self.rs(B64URL, self.r.randint(16, 40))

    def url_password(self):
        scheme = self.r.choice(["redis", "rediss", "amqps", "ftp", "sftp", "mongodb", "mysql",
                                "postgresql", "smtp", "ldap", "kafka", "nats", "clickhouse",
                                "http", "https", "mssql", "couchbase"])
        user = self.r.choice(["", self.fake.user_name(), "svc-" + self.fake.word(), "default"])
        pw = self.fake.password(length=self.r.randint(10, 20), special_chars=False)
        # passwords with characters that end a naive userinfo match
        if self.r.random() < 0.5:
            i = self.r.randrange(1, len(pw))
            pw = pw[:i] + self.r.choice("/#?@!$%&*") + pw[i:]
        host = self.r.choice([self.fake.hostname(), self.fake.ipv4_private(), "cache", "db"])
        port = self.r.choice(["", ":6379", ":5432", ":5672", ":21", ":3306", ":8443"])
        path = self.r.choice(["", "/0", "/app", "/" + self.fake.word() + "?ssl=true"])
        return f"{scheme}://{user}:{pw}@{host}{port}{path}", pw

    def card(self):
        kind = self.r.choice(["visa", "visa13", "visa19", "mastercard", "mc2", "amex", "discover",
                              "jcb15", "jcb16", "diners", "unionpay", "maestro"])
        if kind == "mc2":
            return luhn_complete(str(self.r.randint(2221, 2720)), 16, self.r)
        if kind == "unionpay":
            return luhn_complete("62" + str(self.r.randint(10, 99)), self.r.choice([16, 17, 18, 19]), self.r)
        if kind == "maestro":
            return luhn_complete(self.r.choice(["5018", "5020", "5038", "6304", "6759", "6761"]),
                                 self.r.choice([13, 16, 19]), self.r)
        kind = {"jcb15": "jcb16", "visa": "visa16"}.get(kind, kind)
        return self.fake["en_US"].credit_card_number(card_type=kind)

    def card_layout(self, c):
        sep = self.r.choice(["", " ", "-"])
        if not sep or len(c) not in (15, 16):
            return c
        if len(c) == 15:
            return sep.join([c[:4], c[4:10], c[10:]])
        return sep.join(c[i:i + 4] for i in range(0, 16, 4))

    def iban(self, grouped):
        v = self.loc().iban()
        if grouped:
            v = " ".join(v[i:i + 4] for i in range(0, len(v), 4))
        return v

    def pem(self, lower):
        kind = self.r.choice(["RSA ", "EC ", "OPENSSH ", "", "ENCRYPTED ", "DSA "])
        body = [self.rs(B64, 64) for _ in range(self.r.randint(2, 5))]
        body.append(self.rs(B64, self.r.randint(8, 60)) + "==")
        head, tail = f"-----BEGIN {kind}PRIVATE KEY-----", f"-----END {kind}PRIVATE KEY-----"
        if lower:
            head, tail = head.lower(), tail.lower()
        return head, body, tail

    def jwt(self):
        def b64u(obj):
            return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")
        h = b64u({"alg": self.r.choice(["HS256", "RS256", "ES384"]), "typ": "JWT"})
        p = b64u({"sub": self.fake.uuid4(), "email": self.fake.email(), "iat": self.r.randint(1.6e9, 1.8e9)})
        s = base64.urlsafe_b64encode(self.fake.binary(length=32)).decode().rstrip("=")
        return f"{h}.{p}.{s}"

    def vendor(self):
        k = self.r.randrange(8)
        if k == 0:
            return "ghp_" + self.rs(ALNUM, 36)
        if k == 1:
            return "sk_live_" + self.rs(ALNUM, 24)
        if k == 2:
            return "sk-proj-" + self.rs(B64URL, 48)
        if k == 3:
            return "sk-ant-api03-" + self.rs(B64URL, 93) + "AA"
        if k == 4:
            return "hf_" + self.rs(ALNUM, 34)
        if k == 5:
            return "AIza" + self.rs(B64URL, 35)
        if k == 6:
            return "glpat-" + self.rs(B64URL, 20)
        return "xoxp-" + str(self.r.randint(10**11, 10**12)) + "-" + self.rs(ALNUM, 24)

    def discord(self):
        wid = str(self.r.randint(10**17, 10**18))
        tok = self.rs(B64URL, 68)
        host = self.r.choice(["discord.com", "discordapp.com", "ptb.discord.com"])
        return f"https://{host}/api/webhooks/{wid}/{tok}", tok

    def aws_pair(self):
        kid = self.r.choice(["AKIA", "ASIA"]) + self.rs(string.ascii_uppercase + "234567", 16)
        sec = self.rs(B64, 40)
        return kid, sec

    def azure_conn(self):
        k = self.r.randrange(3)
        key = base64.b64encode(self.fake.binary(length=64)).decode()
        acct = self.fake.user_name().replace("_", "").replace(".", "")[:20].lower()
        if k == 0:
            return (f"DefaultEndpointsProtocol=https;AccountName={acct};AccountKey={key};"
                    "EndpointSuffix=core.windows.net"), key
        if k == 1:
            key = base64.b64encode(self.fake.binary(length=32)).decode()
            return (f"Endpoint=sb://{acct}.servicebus.windows.net/;SharedAccessKeyName="
                    f"RootManageSharedAccessKey;SharedAccessKey={key}"), key
        pw = self.fake.password(length=14)
        return (f"Server=tcp:{acct}.database.windows.net,1433;Initial Catalog=app;"
                f"User ID={acct};Password={pw};Encrypt=True;"), pw

    def b64_key(self):
        return base64.b64encode(self.fake.binary(length=self.r.choice([32, 48, 64]))).decode()

    # ---- harmless ------------------------------------------------------------------------
    def harmless(self):
        k = self.r.randrange(30)
        f, r = self.fake, self.r
        if k == 0:
            return "uuid", f.uuid4()
        if k == 1:
            return "hex_digest", r.choice([f.sha1(), f.sha256(), f.md5()])
        if k == 2:
            return "short_sha", f.sha1()[: r.choice([7, 8, 12])]
        if k == 3:
            return "trace_id", r.choice([
                f"1-{self.rs(HEX, 8)}-{self.rs(HEX, 24)}",
                f"Root=1-{self.rs(HEX, 8)}-{self.rs(HEX, 24)};Sampled=1",
                f"00-{self.rs(HEX, 32)}-{self.rs(HEX, 16)}-01"])
        if k == 4:
            acct = "".join(r.choice(string.digits) for _ in range(12))
            region = r.choice(["us-west-2", "eu-central-1", "ap-southeast-2", "sa-east-1"])
            return "arn", r.choice([
                f"arn:aws:s3:::{f.slug()}-bucket/{f.file_name()}",
                f"arn:aws:lambda:{region}:{acct}:function:{f.slug()}",
                f"arn:aws:kms:{region}:{acct}:key/{f.uuid4()}",
                f"arn:aws:sts::{acct}:assumed-role/{f.word()}-role/{f.user_name()}",
                f"arn:aws:secretsmanager:{region}:{acct}:secret:prod/{f.word()}-{self.rs(ALNUM, 6)}"])
        if k == 5:
            return "file_path", r.choice([f.file_path(depth=r.randint(1, 4)),
                                          "C:\\Users\\" + f.user_name() + "\\AppData\\" + f.file_name(),
                                          "/var/lib/docker/overlay2/" + self.rs(HEX, 64) + "/diff"])
        if k == 6:
            return "url", r.choice([f.url() + f.uri_path(), f.uri(), f.image_url()])
        if k == 7:
            return "hostname", r.choice([f.hostname(), f"ip-{r.randint(10, 172)}-{r.randint(0, 255)}-{r.randint(0, 255)}-{r.randint(1, 254)}.{r.choice(['us-west-2', 'eu-west-1'])}.compute.internal"])
        if k == 8:
            return "ip", r.choice([f.ipv4(), f.ipv6(), f.ipv4_private()])
        if k == 9:
            return "semver", r.choice([f"{r.randint(0, 20)}.{r.randint(0, 40)}.{r.randint(0, 200)}",
                                       f"v{r.randint(0, 9)}.{r.randint(0, 40)}.{r.randint(0, 99)}-beta.{r.randint(1, 9)}",
                                       f"{r.randint(1, 9)}.{r.randint(0, 9)}.{r.randint(0, 9)}+build.{r.randint(1, 9999)}"])
        if k == 10:
            return "timestamp", r.choice([self.ts(), f.iso8601(end_datetime=EPOCH_END), f.date_time(end_datetime=EPOCH_END).isoformat() + "+02:00"])
        if k == 11:
            return "model_id", r.choice([
                "anthropic.claude-3-5-sonnet-20240620-v1:0", "anthropic.claude-3-haiku-20240307-v1:0",
                "us.anthropic.claude-3-7-sonnet-20250219-v1:0", "amazon.titan-embed-text-v2:0",
                "mistral.mistral-large-2407-v1:0", "cohere.command-r-plus-v1:0",
                "gpt-4.1-mini-2025-04-14", "claude-sonnet-4-20250514", "gemini-2.0-flash-001",
                "meta.llama3-1-405b-instruct-v1:0", "ai21.jamba-1-5-large-v1:0"])
        if k == 12:
            return "user_agent", f.user_agent()
        if k == 13:
            return "person", self.loc().name()
        if k == 14:
            return "company", self.loc().company()
        if k == 15:
            return "sentence", self.loc().sentence(nb_words=r.randint(4, 10))
        if k == 16:
            base = r.choice([3000, 8080, 9000, 5000, 6379])
            return "number_list", "ports " + " ".join(str(base + i) for i in range(r.randint(3, 6)))
        if k == 17:
            return "number_list", "buckets " + " ".join(str(2 ** i) for i in range(r.randint(8, 12), r.randint(13, 17)))
        if k == 18:
            return "build_number", f"build {r.randint(100, 999)}.{r.randint(100, 999)}.{r.randint(1000, 9999)}"
        if k == 19:
            return "order_number", luhn_outside_schemes(r)
        if k == 20:
            return "thumbnail_b64", thumbnail(r)
        if k == 21:
            return "mac_address", f.mac_address()
        if k == 22:
            return "container_image", f"{r.randint(100000000000, 999999999999)}.dkr.ecr.us-east-1.amazonaws.com/{f.slug()}:{r.randint(1, 9)}.{r.randint(0, 30)}.{r.randint(0, 9)}@sha256:{f.sha256()}"
        if k == 23:
            return "pod_name", f"{f.slug()}-{self.rs('bcdfghjklmnpqrstvwxz2456789', 10)}-{self.rs('bcdfghjklmnpqrstvwxz2456789', 5)}"
        if k == 24:
            return "prefixed_id", r.choice(["chatcmpl-", "msg_01", "req_011C", "run_", "file-", "batch_", "cus_", "pi_", "evt_", "toolu_01"]) + self.rs(ALNUM, r.randint(14, 28))
        if k == 25:
            return "address", self.loc().address().replace("\n", ", ")
        if k == 26:
            return "duration", r.choice([f"{r.randint(1, 90000)}ms", f"{r.random() * 30:.3f}s", f"PT{r.randint(1, 600)}S"])
        if k == 27:
            return "s3_key", f"s3://{f.slug()}/{f.date(pattern='%Y/%m/%d', end_datetime=EPOCH_END)}/{f.uuid4()}.json.gz"
        if k == 28:
            return "date", self.loc().date(end_datetime=EPOCH_END)
        return "counter", str(r.randint(0, 2_000_000))


def luhn_digit(partial):
    s = 0
    for i, ch in enumerate(reversed(partial)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        s += d
    return str((10 - s % 10) % 10)


def luhn_complete(prefix, length, r):
    body = prefix + "".join(r.choice(string.digits) for _ in range(length - len(prefix) - 1))
    return body + luhn_digit(body)


def luhn_outside_schemes(r):
    """A Luhn-valid 13-19 digit number no card scheme issues (first digit 1, 7, 8 or 9; 13 digits
    starting 1-3 or 7-9), e.g. an order number that happens to pass the check."""
    length = r.choice([13, 13, 13, 14, 16, 18])
    first = r.choice("1789") if length != 13 else r.choice("123789")
    return luhn_complete(first, length, r)


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def thumbnail(r):
    """Base64 of a real (tiny, noisy) PNG or a JPEG header: long, random-looking, and harmless."""
    w, h = r.randint(6, 14), r.randint(6, 14)
    rows = b"".join(b"\x00" + bytes(r.randrange(256) for _ in range(w * 3)) for _ in range(h))
    if r.random() < 0.75:
        png = (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
               + png_chunk(b"IDAT", zlib.compress(rows)) + png_chunk(b"IEND", b""))
        data = base64.b64encode(png).decode()
        return ("data:image/png;base64," + data) if r.random() < 0.5 else data
    jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + rows + b"\xff\xd9"
    data = base64.b64encode(jpeg).decode()
    return ("data:image/jpeg;base64," + data) if r.random() < 0.5 else data


def esc_json(s):
    """The JSON string body of `s` (no quotes)."""
    return json.dumps(s, ensure_ascii=False)[1:-1]


def split_escapes(s, r):
    """`s` as a JSON string body with some characters written as \\uXXXX escapes."""
    out = []
    for ch in s:
        if ch in "@.:/" or (ch.isalnum() and r.random() < 0.15):
            out.append("\\u%04x" % ord(ch))
        else:
            out.append(esc_json(ch))
    return "".join(out)


SECRET_KINDS = [
    "unnamed_password", "session_token", "keyed_secret", "url_password", "auth_header", "email",
    "phone", "card", "iban", "ssn", "private_key", "jwt", "vendor_token", "discord_webhook",
    "aws_key", "connection_string", "secret_b64", "json_nested_secret",
]

FREE_TEMPLATES = [
    "ERROR retry budget spent for {}",
    "upstream closed, session {}",
    "panic: runtime error: invalid credential {} (after 3 attempts)",
    "thread 'main' panicked at src/auth.rs:88:5: login rejected for {}",
    "WARN  [pool-2-thread-7] handshake failed, challenge={{{}}}",
    "connection reset while sending {}",
    "Caused by: AuthenticationException: {} is not valid",
    "dropping cached value {} (stale)",
    "k8s secret mounted: {}",
    "2FA setup: backup code {} issued",
]


def prefix_plain(g):
    return g.r.choice([
        lambda: f"{g.ts()} ERROR ",
        lambda: f"{g.ts()} [{g.r.choice(['main', 'worker-3', 'tokio-runtime-worker'])}] WARN ",
        lambda: f"E{g.r.randint(1000, 1231)} {g.r.randint(10, 23)}:{g.r.randint(10, 59)}:{g.r.randint(10, 59)}.{g.r.randint(100000, 999999)}   {g.r.randint(1, 99)} server.go:{g.r.randint(10, 900)}] ",
        lambda: "",
    ])()


class Sample:
    def __init__(self):
        self.secrets = []
        self.harmless = []
        self.line = ""
        self.json = False

    def secret(self, kind, value, *forms):
        self.secrets.append({"kind": kind, "value": value, "forms": sorted(set(forms) - {value})})

    def keep(self, kind, value):
        self.harmless.append({"kind": kind, "value": value})

    def dump(self):
        return json.dumps({"line": self.line, "json": self.json, "secrets": self.secrets,
                           "harmless": self.harmless}, ensure_ascii=False)


def json_record(g, s, extra):
    """A JSON log record with harmless fields around `extra` (a list of (key, raw JSON text))."""
    fields = [("time", json.dumps(g.ts())), ("level", json.dumps(g.r.choice(["error", "warn", "info"])))]
    for _ in range(g.r.randint(1, 3)):
        kind, value = g.harmless()
        key = {"uuid": "id", "hex_digest": "checksum", "trace_id": "traceId", "arn": "resource",
               "url": "referrer", "model_id": "modelId", "user_agent": "userAgent",
               "thumbnail_b64": "thumbnail", "counter": "count", "number_list": "note",
               "build_number": "note", "prefixed_id": "requestId"}.get(kind, kind)
        fields.append((key, json.dumps(value, ensure_ascii=False)))
        s.keep(kind, value)
    fields.extend(extra)
    g.r.shuffle(fields)
    return "{" + ",".join(f'"{k}":{v}' for k, v in fields) + "}"


def emit(g, s, message, keyed=None):
    """Writes `message` (free text) as a plain line or inside JSON; `keyed` is (key, value) for a
    layout where the value sits under its key instead."""
    layout = g.r.randrange(3)
    if layout == 0 or (keyed is None and layout == 2):
        s.line = prefix_plain(g) + message
        if g.r.random() < 0.4:
            kind, value = g.harmless()
            s.line += f" ({value})"
            s.keep(kind, value)
        return
    if layout == 1 or keyed is None:
        s.line = json_record(g, s, [("msg", json.dumps(message, ensure_ascii=False))])
        s.json = True
        return
    key, value = keyed
    s.line = json_record(g, s, [(key, json.dumps(value, ensure_ascii=False)),
                                ("msg", json.dumps("request failed"))])
    s.json = True


def make_secret_sample(g, kind):
    s = Sample()
    r = g.r
    if kind == "unnamed_password":
        v = g.unnamed_password()
        s.secret(kind, v, esc_json(v))
        emit(g, s, r.choice(FREE_TEMPLATES).format(v))
    elif kind == "session_token":
        v = g.session_token()
        s.secret(kind, v)
        emit(g, s, r.choice(FREE_TEMPLATES).format(v))
    elif kind == "keyed_secret":
        v = g.keyed_value()
        key = r.choice(["password", "passwd", "db_password", "token", "access_token", "secret",
                        "api_key", "apiKey", "X-Auth-Token", "client_secret", "secret_key",
                        "PGPASSWORD", "MYSQL_ROOT_PASSWORD", "refresh_token", "session_token"])
        style = r.randrange(6)
        s.secret(kind, v, esc_json(v))
        if style == 0:
            s.line = f"{prefix_plain(g)}config loaded {key}={v} region=eu-west-1"
            s.keep("word", "region=eu-west-1")
        elif style == 1:
            s.line = f"{prefix_plain(g)}{key}: {v}"
        elif style == 2:
            s.line = f"{prefix_plain(g)}kwargs={{'{key}': '{v}', 'timeout': 30}}"
        elif style == 3:
            s.line = json_record(g, s, [(key, json.dumps(v))])
            s.json = True
        elif style == 4:
            # JSON after a CRI/containerd prefix, value an array
            body = json.dumps({key: [v], "user": g.fake.user_name()})
            s.line = f"{g.ts()[:-1]}123456Z stdout F {body}"
        else:
            # BOM or truncated JSON, value an object
            body = json.dumps({"level": "error", key: {"value": v, "rotated": False}, "msg": "x" * 20})
            s.line = ("\ufeff" + body) if r.random() < 0.5 else body[: body.index('"msg"')]
    elif kind == "url_password":
        url, pw = g.url_password()
        s.secret(kind, pw, esc_json(pw))
        emit(g, s, r.choice(["connecting to {}", "pool error for {}: timeout", "DSN={}",
                             "retrying {} in 5s"]).format(url), ("dsn", url))
    elif kind == "auth_header":
        scheme = r.choice(["Basic", "Bearer", "Digest", "bearer", "basic"])
        if scheme.lower() == "basic":
            cred = base64.b64encode(f"{g.fake.user_name()}:{g.fake.password(length=12)}".encode()).decode()
            value, secret = f"{scheme} {cred}", cred
        elif scheme == "Digest":
            secret = g.fake.md5()
            value = (f'Digest username="{g.fake.user_name()}", realm="api", nonce="{g.rs(HEX, 16)}", '
                     f'uri="/v1/x", response="{secret}"')
        else:
            secret = g.rs(B64URL, r.randint(24, 48))
            value = f"{scheme} {secret}"
        s.secret(kind, secret, esc_json(secret))
        shape = r.randrange(4)
        name = r.choice(["Authorization", "authorization", "Proxy-Authorization"])
        if shape == 0:
            headers = [{"name": "Accept", "value": "application/json"}, {"name": name, "value": value}]
            s.line = json_record(g, s, [("request", json.dumps({"method": "GET", "url": g.fake.url(), "headers": headers}))])
            s.json = True
        elif shape == 1:
            s.line = json_record(g, s, [("headers", json.dumps([["accept", "*/*"], [name.lower(), value]]))])
            s.json = True
        elif shape == 2 and scheme != "Digest":
            s.line = f"{prefix_plain(g)}sending request {scheme.lower()}={secret} to upstream"
        else:
            s.line = f"{prefix_plain(g)}> {name}: {value}"
    elif kind == "email":
        v = g.loc().email()
        local, domain = v.split("@")
        shape = r.randrange(6)
        if shape == 0:
            s.secret(kind, v)
            emit(g, s, r.choice(["invite sent to {}", "user {} not found", "bounce from <{}>"]).format(v), ("email", v))
        elif shape == 1:
            enc = v.replace("@", "%40")
            s.secret(kind, v, enc)
            s.line = f"{prefix_plain(g)}GET /unsubscribe?u={enc}&list=news HTTP/1.1"
        elif shape == 2:
            esc = split_escapes(v, r)
            s.secret(kind, v, esc)
            s.line = json_record(g, s, [("msg", f'"reset link for {esc}"')])
            s.json = True
        elif shape == 3:
            ipv = f"{local}@[{g.fake.ipv4_private()}]"
            s.secret(kind, ipv)
            s.line = f"{prefix_plain(g)}smtp: delivered to {ipv}"
        elif shape == 4:
            s.secret(kind, v)
            s.line = json_record(g, s, [("quota", json.dumps({v: {"used": r.randint(1, 500), "plan": "pro"}}))])
            s.json = True
        else:
            esc = v.replace("@", "\\u0040")
            s.secret(kind, v, esc)
            s.line = f"{prefix_plain(g)}payload {{\"to\":\"{esc}\"}} rejected"
    elif kind == "phone":
        loc = g.loc()
        v = loc.phone_number()
        s.secret(kind, v, esc_json(v))
        emit(g, s, r.choice(["sms code sent to {}", "call {} back", "customer phone {} updated",
                             "tel: {}"]).format(v), (r.choice(["phone", "mobile", "tel"]), v))
    elif kind == "card":
        c = g.card()
        shown = g.card_layout(c)
        s.secret(kind, c, shown)
        shape = r.randrange(3)
        if shape == 0:
            s.line = json_record(g, s, [("amount", str(r.randint(1, 900))), ("pan", c if r.random() < 0.5 else json.dumps(shown))])
            s.json = True
        else:
            emit(g, s, r.choice(["charge declined for card {}", "card {} expired",
                                 "refund to {} queued"]).format(shown))
    elif kind == "iban":
        v = g.iban(r.random() < 0.5)
        s.secret(kind, v, v.replace(" ", ""))
        emit(g, s, r.choice(["payout to {} failed", "SEPA mandate for {} created",
                             "beneficiary account {}"]).format(v), ("iban", v))
    elif kind == "ssn":
        v = g.fake["en_US"].ssn()
        s.secret(kind, v)
        emit(g, s, f"identity check failed for SSN {v}", ("ssn", v))
    elif kind == "private_key":
        head, body, tail = g.pem(r.random() < 0.3)
        text = "\n".join([head] + body + [tail])
        for line in body[:-1]:
            s.secret(kind, line)
        shape = r.randrange(3)
        if shape == 0:
            s.line = json_record(g, s, [("tls", json.dumps({"cert": "ok", "key_material": text}))])
            s.json = True
        elif shape == 1:
            s.line = f"{prefix_plain(g)}loaded {text.replace(chr(10), chr(92) + 'n')}"
        else:
            s.line = json_record(g, s, [("msg", json.dumps("bad key: " + text))])
            s.json = True
    elif kind == "jwt":
        v = g.jwt()
        s.secret(kind, v)
        emit(g, s, r.choice(["token {} expired", "verify failed for {}"]).format(v), ("id_token", v))
    elif kind == "vendor_token":
        v = g.vendor()
        s.secret(kind, v)
        emit(g, s, r.choice(["using credential {}", "HTTP 401 for key {}", "export GH={}"]).format(v))
    elif kind == "discord_webhook":
        url, tok = g.discord()
        s.secret(kind, tok)
        emit(g, s, f"posting alert to {url}", ("webhook", url))
    elif kind == "aws_key":
        kid, sec = g.aws_pair()
        s.secret(kind, kid)
        s.secret(kind, sec, sec.replace("/", "\\/"))
        shape = r.randrange(3)
        if shape == 0:
            s.line = f"{prefix_plain(g)}credentials {kid} {sec} loaded from profile default"
        elif shape == 1:
            s.line = json_record(g, s, [("creds", json.dumps({"AccessKeyId": kid, "SecretAccessKey": sec}).replace("/", "\\/"))])
            s.json = True
        else:
            s.line = f"[default]\\naws_access_key_id = {kid}\\naws_secret_access_key = {sec}"
    elif kind == "connection_string":
        conn, sec = g.azure_conn()
        s.secret(kind, sec, esc_json(sec))
        emit(g, s, f"storage client init with {conn}", ("connectionString", conn))
    elif kind == "secret_b64":
        v = g.b64_key()
        s.secret(kind, v, v.replace("/", "\\/"))
        emit(g, s, r.choice(["data key rotated to {}", "HMAC key {} loaded", "decrypting with {}"]).format(v))
    elif kind == "json_nested_secret":
        v = g.fake.password(length=r.randint(10, 18))
        s.secret(kind, v, esc_json(v))
        key = r.choice(["password", "secret", "credentials"])
        inner = json.dumps({"user": g.fake.user_name(), key: v})
        s.line = json_record(g, s, [("event", json.dumps("login")), ("payload", json.dumps(inner))])
        s.json = True
    else:
        raise ValueError(kind)
    return s


def make_harmless_sample(g):
    s = Sample()
    r = g.r
    special = r.randrange(8)
    if special == 0:
        s.line = json_record(g, s, [("nextToken", '"2"')])
        s.keep("pagination", '"nextToken":"2"')
        s.json = True
        return s
    if special == 1:
        n = r.choice([4242424242424242, 4111111111111111, 5555555555554444])
        s.line = json_record(g, s, [("total_tokens", str(n))])
        s.keep("counter", f'"total_tokens":{n}')
        s.json = True
        return s
    if r.random() < 0.5:
        parts = []
        for _ in range(r.randint(2, 4)):
            kind, value = g.harmless()
            parts.append(value)
            s.keep(kind, value)
        s.line = prefix_plain(g) + r.choice(["done", "retrying", "cache miss", "ok"]) + " " + " ".join(parts)
    else:
        s.line = json_record(g, s, [("msg", json.dumps(g.loc().sentence(), ensure_ascii=False))])
        s.json = True
    return s


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--lines", type=int, default=6000)
    args = ap.parse_args()
    import importlib.metadata
    have = importlib.metadata.version("faker")
    if have != FAKER_VERSION:
        sys.exit(f"faker {have} installed; this corpus is pinned to faker=={FAKER_VERSION}")
    g = Gen(args.seed)
    out = sys.stdout
    for i in range(args.lines):
        if i % 4 == 3:
            s = make_harmless_sample(g)
        else:
            s = make_secret_sample(g, SECRET_KINDS[g.r.randrange(len(SECRET_KINDS))])
        if s.json:
            json.loads(s.line.lstrip("\ufeff"))
        out.write(s.dump() + "\n")


if __name__ == "__main__":
    main()
