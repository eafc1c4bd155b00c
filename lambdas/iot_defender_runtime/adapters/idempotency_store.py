"""The Powertools idempotency store both remediation functions use: the shared state table
(partition key ``id``), expired through its TTL attribute ``expiresAt``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer


def state_table_store(table_name: str) -> DynamoDBPersistenceLayer:
    # Imported here, at the first invocation: Powertools' idempotency package imports boto3 (cold start).
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    from iot_defender_runtime.adapters.aws_clients import client

    return DynamoDBPersistenceLayer(
        table_name=table_name, key_attr="id", expiry_attr="expiresAt", boto3_client=client("dynamodb")
    )
