"""Strongly consistent reads of state-table items by their ``id``, 100 keys per ``BatchGetItem``
(its limit), following ``UnprocessedKeys`` until every key has been read; and the table's size."""

from __future__ import annotations

from typing import Any

BATCH_GET_LIMIT = 100


def get_items(dynamodb: Any, table: str, keys: list[str]) -> dict[str, dict[str, Any]]:
    """The items that exist, by ``id``; missing keys are absent from the result."""
    found: dict[str, dict[str, Any]] = {}
    unique = list(dict.fromkeys(keys))
    for start in range(0, len(unique), BATCH_GET_LIMIT):
        chunk = unique[start : start + BATCH_GET_LIMIT]
        request: dict[str, Any] = {table: {"Keys": [{"id": {"S": k}} for k in chunk], "ConsistentRead": True}}
        while request:
            response = dynamodb.batch_get_item(RequestItems=request)
            for item in response.get("Responses", {}).get(table, []):
                found[item["id"]["S"]] = item
            request = response.get("UnprocessedKeys") or {}
    return found


def item_count(dynamodb: Any, table: str) -> int:
    """The table's approximate number of items (``DescribeTable`` ``ItemCount``, which DynamoDB refreshes
    about every six hours; it costs no read capacity):
    https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TableDescription.html"""
    return int(dynamodb.describe_table(TableName=table)["Table"].get("ItemCount", 0))
