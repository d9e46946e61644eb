"""schemathesis hooks for the contract test (tests/contract/run): the batch
channel's NDJSON, which schemathesis does not know. A generated body is one
BatchItem (or a list of them), sent one JSON object per line; an answer is one
BatchItemResult per line, each line checked to be JSON, and the first handed to
the schema check (every line has the same schema)."""

import json

import schemathesis


@schemathesis.serializer("application/x-ndjson")
def ndjson_serializer(ctx, value):
    items = value if isinstance(value, list) else [value]
    text = "".join(json.dumps(item) + "\n" for item in items)
    return text.encode("utf-8")


@schemathesis.deserializer("application/x-ndjson")
def ndjson_deserializer(ctx, response):
    lines = [line for line in response.content.decode("utf-8").splitlines() if line.strip()]
    parsed = [json.loads(line) for line in lines]
    return parsed[0] if parsed else None
