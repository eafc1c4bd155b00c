"""Synth-time checks of the organization arguments: account ids, organization ids, regions."""

from __future__ import annotations

import re
from collections.abc import Iterable

from constructs_lib._validation import may_be_token

ACCOUNT_ID = re.compile(r"^[0-9]{12}$")
# AWS Organizations API reference, Organization.Id: "o-" then 10 to 32 lowercase letters or digits.
ORGANIZATION_ID = re.compile(r"^o-[a-z0-9]{10,32}$")
# AWS Regions (AWS General Reference, "AWS Regions",
# https://docs.aws.amazon.com/global-infrastructure/latest/regions/aws-regions.html): the commercial,
# China and GovCloud (US) Regions. A newer Region can be given as a token until this list knows it.
AWS_REGIONS = frozenset(
    {
        "af-south-1",
        "ap-east-1",
        "ap-east-2",
        "ap-northeast-1",
        "ap-northeast-2",
        "ap-northeast-3",
        "ap-south-1",
        "ap-south-2",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-southeast-3",
        "ap-southeast-4",
        "ap-southeast-5",
        "ap-southeast-6",
        "ap-southeast-7",
        "ca-central-1",
        "ca-west-1",
        "cn-north-1",
        "cn-northwest-1",
        "eu-central-1",
        "eu-central-2",
        "eu-north-1",
        "eu-south-1",
        "eu-south-2",
        "eu-west-1",
        "eu-west-2",
        "eu-west-3",
        "il-central-1",
        "me-central-1",
        "me-south-1",
        "mx-central-1",
        "sa-east-1",
        "us-east-1",
        "us-east-2",
        "us-gov-east-1",
        "us-gov-west-1",
        "us-west-1",
        "us-west-2",
    }
)


def _given(value: object) -> bool:
    """A value to check now: not a token (checked at deploy)."""
    return not (isinstance(value, str) and may_be_token(value))


def check_account_id(argument: str, value: object, problems: list[str]) -> None:
    if _given(value) and not (isinstance(value, str) and ACCOUNT_ID.match(value)):
        problems.append(f"{argument} {value!r} must be an AWS account id: 12 digits, as a string")


def check_account_ids(argument: str, values: Iterable[object], problems: list[str]) -> None:
    for index, value in enumerate(values):
        check_account_id(f"{argument}[{index}]", value, problems)


def check_organization_id(argument: str, value: object, problems: list[str]) -> None:
    if value is not None and _given(value) and not (isinstance(value, str) and ORGANIZATION_ID.match(value)):
        problems.append(
            f"{argument} {value!r} must be an AWS Organizations id: 'o-' then 10 to 32 lowercase letters or digits"
        )


def check_region(argument: str, value: object, problems: list[str]) -> None:
    if _given(value) and value not in AWS_REGIONS:
        problems.append(f"{argument} {value!r} is not an AWS Region; use one of {', '.join(sorted(AWS_REGIONS))}")


def check_regions(argument: str, values: Iterable[object], problems: list[str]) -> None:
    for index, value in enumerate(values):
        check_region(f"{argument}[{index}]", value, problems)
