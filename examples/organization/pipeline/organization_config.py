"""Where the organization example deploys: the pipeline's account and Region, and the waves of
stages (one Device Defender stack each, in an account and a Region). Checked before anything is
built, every problem at once, each naming the setting, the value given and what is allowed."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

# The commercial AWS Regions (AWS Regions and Availability Zones, "AWS Regions":
# https://docs.aws.amazon.com/global-infrastructure/latest/regions/aws-regions.html).
AWS_REGIONS = frozenset(
    {
        "us-east-1", "us-east-2", "us-west-1", "us-west-2",
        "af-south-1",
        "ap-east-1", "ap-east-2", "ap-south-1", "ap-south-2",
        "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5",
        "ap-southeast-6", "ap-southeast-7",
        "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
        "ca-central-1", "ca-west-1",
        "eu-central-1", "eu-central-2", "eu-west-1", "eu-west-2", "eu-west-3",
        "eu-south-1", "eu-south-2", "eu-north-1",
        "il-central-1", "me-south-1", "me-central-1", "mx-central-1", "sa-east-1",
    }
)  # fmt: skip
ACCOUNT_ID = re.compile(r"^\d{12}$")
STAGE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,63}$")  # a construct id that also reads well in stack names
# A CodeConnections (formerly CodeStar Connections) connection, as CodePipeline's source action takes it.
CONNECTION_ARN = re.compile(
    r"^arn:aws(-[a-z]+)*:(codeconnections|codestar-connections):[a-z0-9-]+:\d{12}:connection/[0-9a-f-]{36}$"
)
REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


class OrganizationConfigError(ValueError):
    """The configuration is wrong; the message lists every problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("organization example: " + "; ".join(self.problems))


@dataclass(frozen=True)
class Stage:
    """One Device Defender stack: its name, account and Region, and what it watches and tells."""

    name: str
    account: str
    region: str
    fleet_groups: Sequence[str] = ("sensors", "gateways")
    notification_email: str = "iot-security-oncall@example.com"
    dry_run: bool = True


@dataclass(frozen=True)
class Wave:
    """Stages deployed together; a wave starts when the one before it has deployed."""

    name: str
    stages: Sequence[Stage] = field(default_factory=tuple)


@dataclass(frozen=True)
class Organization:
    """The pipeline's home and its waves, and the repository it builds (CodeConnections)."""

    pipeline_account: str
    pipeline_region: str
    waves: Sequence[Wave]
    connection_arn: str
    repository: str
    branch: str = "main"

    def problems(self) -> list[str]:
        problems: list[str] = []
        _check_account("pipeline_account", self.pipeline_account, problems)
        _check_region("pipeline_region", self.pipeline_region, problems)
        if not CONNECTION_ARN.match(self.connection_arn or ""):
            problems.append(
                f"connectionArn {self.connection_arn!r} must be a CodeConnections connection ARN, "
                "arn:aws:codeconnections:<region>:<account>:connection/<uuid>"
            )
        if not REPOSITORY.match(self.repository or ""):
            problems.append(f"repository {self.repository!r} must be owner/name, e.g. acme/iot-fleet")
        if not self.waves:
            problems.append("waves is empty; give at least one wave with at least one stage")
        _check_waves(self.waves, problems)
        return problems


def _check_account(argument: str, value: object, problems: list[str]) -> None:
    if not (isinstance(value, str) and ACCOUNT_ID.match(value)):
        problems.append(f"{argument} {value!r} must be an AWS account id: 12 digits")


def _check_region(argument: str, value: object, problems: list[str]) -> None:
    if value not in AWS_REGIONS:
        problems.append(f"{argument} {value!r} is not an AWS Region; allowed: {', '.join(sorted(AWS_REGIONS))}")


def _check_waves(waves: Sequence[Wave], problems: list[str]) -> None:
    """Each wave has stages; stage names are unique; one stage per account and Region, since the
    account audit configuration exists once per account and Region (it is one per stage here)."""
    seen_names: dict[str, str] = {}
    seen_places: dict[tuple[str, str], str] = {}
    for w, wave in enumerate(waves):
        if not wave.stages:
            problems.append(f"waves[{w}] {wave.name!r} has no stage; a wave needs at least one stage (account, region)")
        for s, stage in enumerate(wave.stages):
            where = f"waves[{w}].stages[{s}]"
            _check_account(f"{where}.account", stage.account, problems)
            _check_region(f"{where}.region", stage.region, problems)
            if not (isinstance(stage.name, str) and STAGE_NAME.match(stage.name)):
                problems.append(f"{where}.name {stage.name!r} must be a letter then up to 63 of [A-Za-z0-9-]")
            elif stage.name in seen_names:
                problems.append(f"{where}.name {stage.name!r} is already the name of {seen_names[stage.name]}")
            seen_names.setdefault(stage.name, where)
            place = (stage.account, stage.region)
            if place in seen_places:
                problems.append(
                    f"{where} deploys to account {stage.account} in {stage.region} as {seen_places[place]} does; "
                    "an account has one audit configuration per Region, so give each stage its own account or Region"
                )
            seen_places.setdefault(place, where)


def checked(organization: Organization) -> Organization:
    """The organization, or ``OrganizationConfigError`` with every problem."""
    problems = organization.problems()
    if problems:
        raise OrganizationConfigError(problems)
    return organization


# The example organization: tools account 111111111111 runs the pipeline; dev, then prod in two Regions.
PIPELINE_ACCOUNT, PIPELINE_REGION = "111111111111", "eu-west-1"
WAVES = (
    Wave(
        "dev",
        (
            Stage(
                "Dev",
                "222222222222",
                "eu-west-1",
                fleet_groups=("dev-sensors", "dev-gateways"),
                notification_email="iot-dev-alerts@example.com",
                dry_run=False,
            ),
        ),
    ),
    Wave(
        "prod",
        (Stage("ProdEuWest1", "333333333333", "eu-west-1"), Stage("ProdEuCentral1", "333333333333", "eu-central-1")),
    ),
)
