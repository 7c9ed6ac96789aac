#!/usr/bin/env python3
"""Drive aistudio-server with the official `openai` Python client (PyPI).

Usage: openai_chat.py --base-url URL --api-key TOKEN --model MODEL --mode stream|nonstream

Prints one JSON object: {"mode", "content", "chunks", "finish_reason", "id", "model"}.
Exits 3 with a clear message when the `openai` package is not installed.
"""
import argparse
import json
import sys

try:
    import openai
except ImportError:
    sys.stderr.write(
        "the `openai` Python package is not installed: run `pip install openai` "
        "(the e2e test needs the official client)\n"
    )
    sys.exit(3)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--base-url", required=True)
    p.add_argument("--api-key", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--mode", choices=["stream", "nonstream"], required=True)
    p.add_argument("--prompt", default="Say something about streaming.")
    args = p.parse_args()

    client = openai.OpenAI(base_url=args.base_url, api_key=args.api_key, max_retries=0, timeout=30)
    messages = [{"role": "user", "content": args.prompt}]
    out = {"mode": args.mode, "openai_version": openai.__version__}
    if args.mode == "stream":
        parts, chunks, finish, cid, model = [], 0, None, None, None
        stream = client.chat.completions.create(model=args.model, messages=messages, stream=True)
        for chunk in stream:
            chunks += 1
            cid, model = chunk.id, chunk.model
            if not chunk.choices:
                continue
            choice = chunk.choices[0]
            if choice.delta and choice.delta.content:
                parts.append(choice.delta.content)
            if choice.finish_reason:
                finish = choice.finish_reason
        out.update(content="".join(parts), chunks=chunks, finish_reason=finish, id=cid, model=model)
    else:
        r = client.chat.completions.create(model=args.model, messages=messages)
        out.update(
            content=r.choices[0].message.content,
            chunks=0,
            finish_reason=r.choices[0].finish_reason,
            id=r.id,
            model=r.model,
            completion_tokens=r.usage.completion_tokens if r.usage else None,
        )
    # Error path: an unknown model must raise NotFoundError (404 in OpenAI's shape).
    try:
        client.chat.completions.create(model="no-such-model", messages=messages)
        out["unknown_model_error"] = None
    except openai.NotFoundError as e:
        out["unknown_model_error"] = e.status_code
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
