"""Handler tests run on moto; Tracer is disabled and no real AWS endpoint is ever called."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_DEV", "false")

EVENTS = Path(__file__).resolve().parent.parent / "events"
REGION = "us-east-1"
QUARANTINE_GROUP = "quarantine"
FLEET_GROUP = "fleet"
TABLE = "defender-state"


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


@dataclass
class LambdaContext:
    function_name: str = "quarantine-responder"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:quarantine-responder"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@dataclass
class World:
    """The moto account a handler test runs against, and ways to look at it."""

    iot: Any
    sqs: Any
    dynamodb: Any
    notifications_queue_url: str

    def groups_of(self, thing: str) -> list[str]:
        return sorted(g["groupName"] for g in self.iot.list_thing_groups_for_thing(thingName=thing)["thingGroups"])

    def notifications(self) -> list[dict[str, Any]]:
        received = []
        while True:
            batch = self.sqs.receive_message(QueueUrl=self.notifications_queue_url, MaxNumberOfMessages=10)
            messages = batch.get("Messages", [])
            if not messages:
                return received
            for message in messages:
                envelope = json.loads(message["Body"])
                received.append({"subject": envelope.get("Subject"), **json.loads(envelope["Message"])})
                self.sqs.delete_message(QueueUrl=self.notifications_queue_url, ReceiptHandle=message["ReceiptHandle"])

    def record_of(self, thing: str) -> dict[str, Any] | None:
        return self.dynamodb.get_item(TableName=TABLE, Key={"id": {"S": f"quarantine#{thing}"}}).get("Item")

    def action_log(self, thing: str) -> list[dict[str, Any]]:
        items = self.dynamodb.scan(TableName=TABLE)["Items"]
        entries = [i for i in items if i["id"]["S"].startswith(f"action#{thing}#")]
        return [
            {
                "changes": [c["S"] for c in i["changes"]["L"]],
                "by": i["by"]["S"],
                "violationId": i.get("violationId", {}).get("S"),
                "reason": i["reason"]["S"],
            }
            for i in sorted(entries, key=lambda item: item["at"]["S"])
        ]

    def action_items(self, subject: str) -> list[dict[str, Any]]:
        """The action log items about one thing or certificate, oldest first, attribute -> string."""
        items = self.dynamodb.scan(TableName=TABLE)["Items"]
        entries = [i for i in items if i["id"]["S"].startswith(f"action#{subject}#")]
        return [
            {name: value.get("S", value.get("N")) for name, value in item.items() if "L" not in value}
            for item in sorted(entries, key=lambda item: item["at"]["S"])
        ]

    def add_thing(self, name: str, *, groups: tuple[str, ...] = (FLEET_GROUP,), attributes: dict | None = None) -> None:
        self.iot.create_thing(thingName=name, attributePayload={"attributes": attributes or {}})
        for group in groups:
            self.iot.add_thing_to_thing_group(thingGroupName=group, thingName=name)

    def add_certificate(self, thing: str, *, active: bool = True) -> str:
        created = self.iot.create_keys_and_certificate(setAsActive=active)
        self.iot.attach_thing_principal(thingName=thing, principal=created["certificateArn"])
        return created["certificateId"]

    def certificate_status(self, certificate_id: str) -> str:
        return self.iot.describe_certificate(certificateId=certificate_id)["certificateDescription"]["status"]


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    import boto3
    from moto import mock_aws

    from iot_defender_runtime.adapters import aws_clients
    from iot_defender_runtime.audit_remediation import handler as audit_handler
    from iot_defender_runtime.detect_evaluator import handler as detect_handler
    from iot_defender_runtime.quarantine import handler

    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        iot = boto3.client("iot", region_name=REGION)
        sns = boto3.client("sns", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        iot.create_thing_group(thingGroupName=QUARANTINE_GROUP)
        iot.create_thing_group(thingGroupName=FLEET_GROUP)
        topic_arn = sns.create_topic(Name="defender-notifications")["TopicArn"]
        queue_url = sqs.create_queue(QueueName="notifications-capture")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        monkeypatch.setenv("QUARANTINE_GROUP_NAME", QUARANTINE_GROUP)
        monkeypatch.setenv("STATE_TABLE_NAME", TABLE)
        monkeypatch.setenv("NOTIFY_TOPIC_ARN", topic_arn)
        monkeypatch.setenv("ALERT_TOPIC_ARN", topic_arn)
        monkeypatch.setenv("DRY_RUN", "false")
        aws_clients.client.cache_clear()
        handler.runtime.cache_clear()
        audit_handler.runtime.cache_clear()
        detect_handler.clear_caches()
        yield World(iot=iot, sqs=sqs, dynamodb=dynamodb, notifications_queue_url=queue_url)
        aws_clients.client.cache_clear()
        handler.runtime.cache_clear()
        audit_handler.runtime.cache_clear()
        detect_handler.clear_caches()
