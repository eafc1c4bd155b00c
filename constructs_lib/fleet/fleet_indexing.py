"""Fleet indexing, which dynamic thing groups need. One configuration per account and region.

CloudFormation has no resource for it, so ``FleetIndexing`` sets it with a custom resource that
calls ``UpdateIndexingConfiguration`` on create and update. On delete it changes nothing: other
groups or searches in the account may rely on the index.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import custom_resources as cr
from constructs import Construct

from constructs_lib._custom_resources import acknowledge_provider_function
from constructs_lib._log_groups import encrypted_log_group
from constructs_lib.nag import acknowledge, acknowledge_inline_policies


class ThingIndexingMode(str, Enum):
    REGISTRY = "REGISTRY"
    REGISTRY_AND_SHADOW = "REGISTRY_AND_SHADOW"


@dataclass(frozen=True)
class FleetIndexingSettings:
    """What the account's fleet index covers."""

    thing_indexing_mode: ThingIndexingMode = ThingIndexingMode.REGISTRY
    connectivity: bool = False
    device_defender_violations: bool = False

    def missing_for(self, query: str) -> list[str]:
        """What a query needs that these settings do not index, in words a user can act on."""
        missing = []
        if re.search(r"\bshadow\.", query) and self.thing_indexing_mode is not ThingIndexingMode.REGISTRY_AND_SHADOW:
            missing.append("thing_indexing_mode REGISTRY_AND_SHADOW (the query reads shadow.*)")
        if re.search(r"\bconnectivity\.", query) and not self.connectivity:
            missing.append("connectivity=True (the query reads connectivity.*)")
        if re.search(r"\bdeviceDefender\.", query) and not self.device_defender_violations:
            missing.append("device_defender_violations=True (the query reads deviceDefender.*)")
        return missing


class FleetIndexing(Construct):
    """Turns on fleet indexing for this account and region with the given coverage."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        thing_indexing_mode: ThingIndexingMode = ThingIndexingMode.REGISTRY,
        connectivity: bool = False,
        device_defender_violations: bool = False,
    ) -> None:
        """
        :param thing_indexing_mode: REGISTRY, or REGISTRY_AND_SHADOW to query shadows. Default: REGISTRY.
        :param connectivity: index connection status (``connectivity.connected``). Default: false.
        :param device_defender_violations: index Detect violations (``deviceDefender.*``). Default: false.
        """
        super().__init__(scope, id)
        self.settings = FleetIndexingSettings(
            ThingIndexingMode(thing_indexing_mode), connectivity, device_defender_violations
        )
        call = cr.AwsSdkCall(
            service="IoT",
            action="updateIndexingConfiguration",
            parameters={
                "thingIndexingConfiguration": {
                    "thingIndexingMode": self.settings.thing_indexing_mode.value,
                    "thingConnectivityIndexingMode": "STATUS" if connectivity else "OFF",
                    "deviceDefenderIndexingMode": "VIOLATIONS" if device_defender_violations else "OFF",
                }
            },
            physical_resource_id=cr.PhysicalResourceId.of("fleet-indexing"),
        )
        self.resource = cr.AwsCustomResource(
            self,
            "Resource",
            resource_type="Custom::IotFleetIndexing",
            on_create=call,
            on_update=call,
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [iam.PolicyStatement(actions=["iot:UpdateIndexingConfiguration"], resources=["*"])]
            ),
            install_latest_aws_sdk=False,
            timeout=Duration.minutes(2),
            memory_size=256,
            log_group=encrypted_log_group(self, "Logs"),
        )
        acknowledge(
            self.resource.node.find_child("CustomResourcePolicy"),
            {
                "AwsSolutions-IAM5[Resource::*]": (
                    "UpdateIndexingConfiguration is an account-level setting with no resource-level permission "
                    "(Service Authorization Reference); the statement allows that one action only."
                )
            },
        )
        acknowledge_provider_function(self)
        acknowledge_inline_policies(self, "the fleet indexing custom resource (UpdateIndexingConfiguration)")

    @staticmethod
    def already_enabled(
        *,
        thing_indexing_mode: ThingIndexingMode = ThingIndexingMode.REGISTRY,
        connectivity: bool = False,
        device_defender_violations: bool = False,
    ) -> FleetIndexingSettings:
        """Declare indexing that is managed outside this app, so dynamic groups can be checked against it."""
        return FleetIndexingSettings(ThingIndexingMode(thing_indexing_mode), connectivity, device_defender_violations)
