"""The Powertools idempotency store both remediation functions use: the shared state table
(partition key ``id``), expired through its TTL attribute ``expiresAt``."""

from __future__ import annotations

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

from iot_defender_runtime.adapters.aws_clients import client


def state_table_store(table_name: str) -> DynamoDBPersistenceLayer:
    return DynamoDBPersistenceLayer(
        table_name=table_name, key_attr="id", expiry_attr="expiresAt", boto3_client=client("dynamodb")
    )
