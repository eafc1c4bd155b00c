"""``aws_cdk.assertions.Match`` patterns for IAM and IoT policy statements, shared by the construct tests."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Match


def scoped_arn(service: str, resource: str) -> dict[str, Any]:
    """An ARN of this stack's partition, region and account, as CloudFormation renders it:
    ``arn:<partition>:<service>:<region>:<account>:<resource>``."""
    return {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                f":{service}:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                f":{resource}",
            ],
        ]
    }


def arn_of(logical_id_prefix: str) -> dict[str, Any]:
    """``Fn::GetAtt [<logical id starting with the prefix>, Arn]``."""
    return {"Fn::GetAtt": [Match.string_like_regexp(f"^{logical_id_prefix}"), "Arn"]}


def attached_to(role_logical_id_part: str) -> dict[str, Any]:
    """The properties of an ``AWS::IAM::Policy`` attached to the one role whose logical id contains the part."""
    return {"Roles": [{"Ref": Match.string_like_regexp(role_logical_id_part)}]}


def policy_with(role_logical_id_part: str, *statements: dict[str, Any]) -> dict[str, Any]:
    """``AWS::IAM::Policy`` properties: attached to that role, holding these statements (each ``object_like``,
    in this order, among others)."""
    return {
        **attached_to(role_logical_id_part),
        "PolicyDocument": {"Statement": Match.array_with([Match.object_like(s) for s in statements])},
    }
