"""Optimistic concurrency for items of the state table: a write takes effect only if the item is
still at the version its writer read (0: there was no item), so concurrent invocations never
overwrite each other's state (breakers, detect state)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError


def version_condition(expected_version: int) -> dict[str, Any]:
    """The ``put_item``/``delete_item`` arguments that make the write conditional on the version."""
    if expected_version == 0:
        return {"ConditionExpression": "attribute_not_exists(id)"}
    return {
        "ConditionExpression": "version = :expected",
        "ExpressionAttributeValues": {":expected": {"N": str(expected_version)}},
    }


def is_conditional_failure(error: ClientError) -> bool:
    return error.response["Error"]["Code"] == "ConditionalCheckFailedException"


def put_if_version(dynamodb: Any, table_name: str, item: dict[str, Any], expected_version: int) -> bool:
    """Write ``item`` unless another writer changed it since ``expected_version``; False if one did."""
    return _if_version(dynamodb.put_item, expected_version, TableName=table_name, Item=item)


def delete_if_version(dynamodb: Any, table_name: str, key: dict[str, Any], expected_version: int) -> bool:
    """Delete the item unless another writer changed it since ``expected_version``; False if one did."""
    return _if_version(dynamodb.delete_item, expected_version, TableName=table_name, Key=key)


def _if_version(write: Callable[..., Any], expected_version: int, **arguments: Any) -> bool:
    try:
        write(**arguments, **version_condition(expected_version))
    except ClientError as error:
        if is_conditional_failure(error):
            return False
        raise
    return True
