"""The fake datapoint stream: shards, sequence numbers, and Lambda's Kinesis event records.

Kinesis maps a partition key to a shard by the MD5 hash of the key, a 128-bit integer, which falls
in one shard's hash key range; a stream created with ``ShardCount`` n splits the range into n equal
parts (Kinesis Data Streams developer guide, "Key concepts": partition key and hash key range,
https://docs.aws.amazon.com/streams/latest/dev/key-concepts.html). Sequence numbers increase per
shard. The record layout is Lambda's Kinesis event
(https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html, "Example event").
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

_HASH_BITS = 128


def shard_index(partition_key: str, shards: int) -> int:
    """The shard whose equal hash key range holds the key's MD5 hash."""
    digest = hashlib.md5(partition_key.encode(), usedforsecurity=False).digest()  # Kinesis hashes keys with MD5
    hashed = int.from_bytes(digest, "big")
    return (hashed * shards) >> _HASH_BITS


def shard_id(index: int) -> str:
    return f"shardId-{index:012d}"


def sequence_number(shard: int, position: int) -> str:
    """A 56-digit sequence number (as Kinesis writes them), increasing with ``position`` in its shard."""
    return f"496{shard:05d}{position:048d}"


class RecordFactory:
    """Lambda Kinesis event records of one stream."""

    def __init__(self, region: str, account: str, stream_name: str) -> None:
        self.stream_arn = f"arn:aws:kinesis:{region}:{account}:stream/{stream_name}"
        self._region = region
        self._role = f"arn:aws:iam::{account}:role/detect-evaluator"

    def record(self, shard: str, sequence: str, partition_key: str, data: bytes, arrival: float) -> dict[str, Any]:
        return {
            "kinesis": {
                "kinesisSchemaVersion": "1.0",
                "partitionKey": partition_key,
                "sequenceNumber": sequence,
                "data": base64.b64encode(data).decode(),
                "approximateArrivalTimestamp": arrival,
            },
            "eventSource": "aws:kinesis",
            "eventVersion": "1.0",
            "eventID": f"{shard}:{sequence}",
            "eventName": "aws:kinesis:record",
            "invokeIdentityArn": self._role,
            "awsRegion": self._region,
            "eventSourceARN": self.stream_arn,
        }
