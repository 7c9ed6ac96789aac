"""Writes the lines the fluent source makes of scripts/forward_w1.py's FireLens records (the
W1 line's members, then the container and ECS metadata, then the tag), so the file source can
be measured on the same lines the forward source ships.
  python3 scripts/firelens_lines.py W1_FILE > FIRELENS_LINES_FILE
"""

import json
import sys

from forward_w1 import METADATA, TAG


def main():
    fields = dict(METADATA, tag=TAG)
    tail = "".join(
        "," + json.dumps(k) + ":" + json.dumps(v, separators=(",", ":")) for k, v in fields.items()
    )
    out = sys.stdout
    with open(sys.argv[1], encoding="utf-8", errors="replace") as lines:
        for line in lines:
            line = line.rstrip("\n")
            # W1 lines are JSON objects with their own timestamp, so nothing goes before them
            if not (line.startswith("{") and line.endswith("}")):
                sys.exit("firelens_lines.py: expected W1's JSON object lines")
            out.write(line[:-1] + tail + "}\n")


if __name__ == "__main__":
    main()
