"""The window history of self-hosted Detect: every window the evaluator closes, per thing and
behavior, as Parquet in S3, with a Glue table and an Athena workgroup over it.

The evaluator sends rows (``iot_defender_runtime/model/window_history.py``: one schema, and the
Glue columns are read from it) to a Direct PUT Firehose stream, which converts the JSON to Parquet
with the Glue table's schema and writes it under ``windows/dt=YYYY-MM-DD/``. The ``dt`` of a file is
the day Firehose received its rows (``!{timestamp:yyyy-MM-dd}``, the arrival time, UTC): a window
lands in the day it was closed, normally minutes after its ``window_end``; one closed around
midnight, or judged late, is in the next day's partition. Query a range of ``window_end`` with a
``dt`` range one day wider. The table's partitions are projected (no crawler, no ``MSCK REPAIR``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import cast

from aws_cdk import ArnFormat, CfnOutput, Duration, Names, Size, Stack
from aws_cdk import aws_athena as athena
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from constructs_lib._jsii import service_principal
from constructs_lib._log_groups import encrypted_log_group
from constructs_lib._validation import check_duration, raise_if_any
from constructs_lib.nag import acknowledge
from iot_defender_runtime.model.window_history import HISTORY_COLUMNS, PARTITION_COLUMN

ROWS_PREFIX = "windows/"
ERRORS_PREFIX = "errors/"
RESULTS_PREFIX = "athena-results/"
TABLE_NAME = "windows"
DEFAULT_RETENTION_DAYS = 30
ACCESS_LOG_DAYS = 365
MIN_SCAN_LIMIT_BYTES = 10_000_000  # Athena's least BytesScannedCutoffPerQuery


@dataclass(frozen=True)
class WindowHistoryOptions:
    """How ``SelfHostedDetect(history=...)`` keeps the window history.

    :param retention: how long rows (and query results) are kept: whole days, 1 to 3650. Default: 30 days.
    :param buffer_interval: how long Firehose gathers rows before it writes a Parquet file, 60 to 900 seconds
        (or 128 MiB, whichever comes first). Longer means fewer, larger files (cheaper to query), and rows later.
        Default: 5 minutes.
    :param query_scan_limit: the most one Athena query of the workgroup may scan before Athena cancels it
        (at least 10 MB). Default: 10 GiB (about $0.05 at $5 per TB).
    """

    retention: Duration | None = None
    buffer_interval: Duration | None = None
    query_scan_limit: Size | None = None


def window_history_problems(options: object, argument: str = "history") -> list[str]:
    """Every problem of a ``history`` argument (``True``, ``False`` or ``WindowHistoryOptions``)."""
    if isinstance(options, bool):
        return []
    if not isinstance(options, WindowHistoryOptions):
        return [f"{argument} {options!r} must be True, False or WindowHistoryOptions(retention=Duration.days(30))"]
    problems: list[str] = []
    retention, interval, limit = options.retention, options.buffer_interval, options.query_scan_limit
    if (
        retention is not None
        and check_duration(f"{argument}.retention", retention, problems, example="Duration.days(30)")
        and not retention.is_unresolved()
    ):
        seconds = retention.to_seconds()
        if seconds % 86400 or not 1 <= seconds // 86400 <= 3650:
            problems.append(f"{argument}.retention {seconds / 86400:g} days must be whole days, 1 to 3650")
    if (
        interval is not None
        and check_duration(f"{argument}.buffer_interval", interval, problems, example="Duration.minutes(5)")
        and not interval.is_unresolved()
        and not 60 <= interval.to_seconds() <= 900
    ):
        problems.append(f"{argument}.buffer_interval {interval.to_seconds():g} seconds must be 60 to 900 seconds")
    if limit is not None:
        if not isinstance(limit, Size):
            problems.append(f"{argument}.query_scan_limit {limit!r} must be an aws_cdk.Size, e.g. Size.gibibytes(10)")
        elif limit.is_unresolved() or limit.to_bytes() < MIN_SCAN_LIMIT_BYTES:
            problems.append(f"{argument}.query_scan_limit must be a known size of at least 10 MB (10,000,000 bytes)")
    return problems


class WindowHistory(Construct):
    """The history's stream, bucket, table and workgroup (see the module docstring). ``SelfHostedDetect``
    builds one with ``history=True`` or ``history=WindowHistoryOptions(...)``."""

    def __init__(self, scope: Construct, id: str, *, options: WindowHistoryOptions | None = None) -> None:
        """:param options: retention, buffering, query limit. Default: ``WindowHistoryOptions()``."""
        options = options or WindowHistoryOptions()
        raise_if_any((scope, id), window_history_problems(options, "options"))
        super().__init__(scope, id)
        retention = options.retention or Duration.days(DEFAULT_RETENTION_DAYS)
        self.retention_days = int(retention.to_days())
        stack = Stack.of(self)
        self.encryption_key: kms.Key = kms.Key(
            self, "Key", enable_key_rotation=True, description=f"Encrypts the window history {self.node.path}"
        )
        self.bucket: s3.Bucket = self._add_bucket(retention)
        name = re.sub(r"[^a-z0-9_]", "_", Names.unique_resource_name(self, max_length=64, separator="_").lower())
        self.database_name: str = name
        self.table_name: str = TABLE_NAME
        self._add_table()
        role = self._add_delivery_role(stack)
        self.delivery_stream: firehose.CfnDeliveryStream = self._add_delivery_stream(
            role, stack, options.buffer_interval or Duration.minutes(5)
        )
        self.delivery_stream_name: str = self.delivery_stream.ref
        self.delivery_stream_arn: str = self.delivery_stream.attr_arn
        self.workgroup_name: str = name
        self.workgroup = self._add_workgroup(options.query_scan_limit or Size.gibibytes(10))
        for output, value in (("BucketName", self.bucket.bucket_name), ("DatabaseName", self.database_name)):
            CfnOutput(self, output, value=value, description=f"Window history: {output}")
        CfnOutput(self, "WorkgroupName", value=self.workgroup.ref, description="Window history: Athena workgroup")

    @property
    def table_arn(self) -> str:
        return Stack.of(self).format_arn(service="glue", resource="table", resource_name=self._table_path)

    def grant_put_records(self, grantee: iam.IGrantable) -> iam.Grant:
        """``firehose:PutRecordBatch`` on this stream only (what the evaluator needs)."""
        return iam.Grant.add_to_principal(
            grantee=grantee, actions=["firehose:PutRecordBatch"], resource_arns=[self.delivery_stream_arn]
        )

    def grant_query(self, grantee: iam.IGrantable) -> None:
        """Run Athena queries of the history in its workgroup: the table's definition, its rows, the
        results prefix and the key (the Detect lab's fleet-scale tuning runs as such a principal)."""
        stack = Stack.of(self)
        workgroup = stack.format_arn(service="athena", resource="workgroup", resource_name=self.workgroup.ref)
        statements = [
            (
                [
                    "athena:StartQueryExecution",
                    "athena:GetQueryExecution",
                    "athena:GetQueryResults",
                    "athena:StopQueryExecution",
                    "athena:GetWorkGroup",
                ],
                [workgroup],
            ),
            (["glue:GetDatabase", "glue:GetTable"], self._glue_arns(stack)),
            (["s3:GetBucketLocation", "s3:ListBucket"], [self.bucket.bucket_arn]),
            (["s3:GetObject"], [self.bucket.arn_for_objects(f"{ROWS_PREFIX}*")]),
            (
                ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
                [self.bucket.arn_for_objects(f"{RESULTS_PREFIX}*")],
            ),
            (["kms:Decrypt", "kms:GenerateDataKey"], [self.encryption_key.key_arn]),
        ]
        for actions, resources in statements:
            iam.Grant.add_to_principal(grantee=grantee, actions=actions, resource_arns=resources)

    # Steps of the constructor (construct ids are public contract)

    def _add_bucket(self, retention: Duration) -> s3.Bucket:
        """The rows, Firehose's errors and Athena's results; server access logs in a bucket of their own."""
        access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,  # S3 server access logging cannot write to SSE-KMS buckets
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            lifecycle_rules=[s3.LifecycleRule(id="Expire", expiration=Duration.days(ACCESS_LOG_DAYS))],
        )
        acknowledge(
            access_logs,
            {
                "AwsSolutions-S1": (
                    "This is the server access log bucket of the window history bucket; logging it to itself "
                    "would log its own log deliveries without end."
                )
            },
        )
        return s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=cast(kms.IKey, self.encryption_key),  # jsii: see constructs_lib/_jsii.py
            bucket_key_enabled=True,  # one data key per bucket and period, not a KMS call per object
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="window-history/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="Retention", expiration=retention, abort_incomplete_multipart_upload_after=Duration.days(1)
                )
            ],
        )

    @property
    def _table_path(self) -> str:
        return f"{self.database_name}/{self.table_name}"

    def _glue_arns(self, stack: Stack) -> list[str]:
        """The catalog, database and table ARNs Glue checks for a table read
        (https://docs.aws.amazon.com/glue/latest/dg/glue-specifying-resource-arns.html)."""
        return [
            stack.format_arn(service="glue", resource="catalog"),
            stack.format_arn(service="glue", resource="database", resource_name=self.database_name),
            self.table_arn,
        ]

    def _add_table(self) -> None:
        """The Glue table Firehose converts with and Athena reads: the model's columns, partitioned by a
        projected ``dt`` (https://docs.aws.amazon.com/athena/latest/ug/partition-projection-supported-types.html)."""
        account = Stack.of(self).account
        database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=account,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=self.database_name, description="Self-hosted Detect window history"
            ),
        )
        location = f"s3://{self.bucket.bucket_name}/{ROWS_PREFIX}"
        partition, partition_type = PARTITION_COLUMN
        self.table = glue.CfnTable(
            self,
            "Table",
            catalog_id=account,
            database_name=self.database_name,
            table_input=glue.CfnTable.TableInputProperty(
                name=self.table_name,
                description="One row per closed window, thing and behavior (iot_defender_runtime.model.window_history)",
                table_type="EXTERNAL_TABLE",
                parameters={
                    "classification": "parquet",
                    "EXTERNAL": "TRUE",
                    "parquet.compression": "SNAPPY",
                    "projection.enabled": "true",
                    f"projection.{partition}.type": "date",
                    f"projection.{partition}.format": "yyyy-MM-dd",
                    f"projection.{partition}.range": f"NOW-{self.retention_days + 1}DAYS,NOW",
                    f"projection.{partition}.interval": "1",
                    f"projection.{partition}.interval.unit": "DAYS",
                    "storage.location.template": f"{location}{partition}=${{{partition}}}/",
                },
                partition_keys=[glue.CfnTable.ColumnProperty(name=partition, type=partition_type)],
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    columns=[glue.CfnTable.ColumnProperty(name=name, type=kind) for name, kind in HISTORY_COLUMNS],
                    location=location,
                    input_format="org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                    output_format="org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
                    serde_info=glue.CfnTable.SerdeInfoProperty(
                        serialization_library="org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
                    ),
                ),
            ),
        )
        self.table.node.add_dependency(database)

    def _add_delivery_role(self, stack: Stack) -> iam.Role:
        """Firehose's role, as the Firehose guide's S3 destination and Glue policies have it
        (https://docs.aws.amazon.com/firehose/latest/dev/controlling-access.html), narrowed to this
        stream's prefixes, table and key."""
        role = iam.Role(
            self,
            "DeliveryRole",
            assumed_by=cast(
                iam.IPrincipal,
                iam.PrincipalWithConditions(
                    service_principal("firehose.amazonaws.com"), {"StringEquals": {"sts:ExternalId": stack.account}}
                ),
            ),
            description="Window history: Firehose converts rows with the Glue table and writes them to the bucket",
        )
        objects = [self.bucket.arn_for_objects(f"{ROWS_PREFIX}*"), self.bucket.arn_for_objects(f"{ERRORS_PREFIX}*")]
        self.delivery_logs = encrypted_log_group(self, "DeliveryLogs")
        self.delivery_log_stream = logs.LogStream(
            self, "DeliveryLogStream", log_group=self.delivery_logs, log_stream_name="S3Delivery"
        )
        log_stream = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name=f"{self.delivery_logs.log_group_name}:log-stream:S3Delivery",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        for statement in (
            iam.PolicyStatement(
                actions=["glue:GetTable", "glue:GetTableVersion", "glue:GetTableVersions"],
                resources=self._glue_arns(stack),
            ),
            iam.PolicyStatement(
                actions=["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
                resources=[self.bucket.bucket_arn],
            ),
            iam.PolicyStatement(actions=["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"], resources=objects),
            iam.PolicyStatement(
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=[self.encryption_key.key_arn],
                conditions={
                    "StringEquals": {
                        "kms:ViaService": f"s3.{stack.region}.amazonaws.com",
                        # with an S3 Bucket Key, the encryption context is the bucket's ARN
                        "kms:EncryptionContext:aws:s3:arn": self.bucket.bucket_arn,
                    }
                },
            ),
            iam.PolicyStatement(actions=["logs:PutLogEvents"], resources=[log_stream]),
        ):
            role.add_to_policy(statement)
        acknowledge(
            role,
            {
                f"AwsSolutions-IAM5[Resource::<{_logical(self.bucket)}.Arn>/{ROWS_PREFIX}*]": (
                    "Firehose writes Parquet objects under the rows prefix, named by day and by itself at delivery "
                    "time; the grant is limited to that prefix of this bucket."
                ),
                f"AwsSolutions-IAM5[Resource::<{_logical(self.bucket)}.Arn>/{ERRORS_PREFIX}*]": (
                    "Firehose writes the records it could not convert under the errors prefix, named at delivery "
                    "time; the grant is limited to that prefix of this bucket."
                ),
            },
        )
        return role

    def _add_delivery_stream(self, role: iam.Role, stack: Stack, interval: Duration) -> firehose.CfnDeliveryStream:
        """Direct PUT, JSON to Parquet with the table's schema
        (https://docs.aws.amazon.com/firehose/latest/dev/record-format-conversion.html): conversion needs a
        buffer of at least 64 MiB and an uncompressed S3 destination (Parquet compresses itself, Snappy)."""
        stream = firehose.CfnDeliveryStream(
            self,
            "DeliveryStream",
            delivery_stream_type="DirectPut",
            delivery_stream_encryption_configuration_input=firehose.CfnDeliveryStream.DeliveryStreamEncryptionConfigurationInputProperty(
                key_type="CUSTOMER_MANAGED_CMK", key_arn=self.encryption_key.key_arn
            ),
            extended_s3_destination_configuration=firehose.CfnDeliveryStream.ExtendedS3DestinationConfigurationProperty(
                bucket_arn=self.bucket.bucket_arn,
                role_arn=role.role_arn,
                prefix=f"{ROWS_PREFIX}dt=!{{timestamp:yyyy-MM-dd}}/",
                error_output_prefix=f"{ERRORS_PREFIX}!{{firehose:error-output-type}}/dt=!{{timestamp:yyyy-MM-dd}}/",
                buffering_hints=firehose.CfnDeliveryStream.BufferingHintsProperty(
                    interval_in_seconds=int(interval.to_seconds()), size_in_m_bs=128
                ),
                compression_format="UNCOMPRESSED",
                encryption_configuration=firehose.CfnDeliveryStream.EncryptionConfigurationProperty(
                    kms_encryption_config=firehose.CfnDeliveryStream.KMSEncryptionConfigProperty(
                        awskms_key_arn=self.encryption_key.key_arn
                    )
                ),
                cloud_watch_logging_options=firehose.CfnDeliveryStream.CloudWatchLoggingOptionsProperty(
                    enabled=True,
                    log_group_name=self.delivery_logs.log_group_name,
                    log_stream_name=self.delivery_log_stream.log_stream_name,
                ),
                data_format_conversion_configuration=firehose.CfnDeliveryStream.DataFormatConversionConfigurationProperty(
                    enabled=True,
                    input_format_configuration=firehose.CfnDeliveryStream.InputFormatConfigurationProperty(
                        deserializer=firehose.CfnDeliveryStream.DeserializerProperty(
                            open_x_json_ser_de=firehose.CfnDeliveryStream.OpenXJsonSerDeProperty()
                        )
                    ),
                    output_format_configuration=firehose.CfnDeliveryStream.OutputFormatConfigurationProperty(
                        serializer=firehose.CfnDeliveryStream.SerializerProperty(
                            parquet_ser_de=firehose.CfnDeliveryStream.ParquetSerDeProperty(compression="SNAPPY")
                        )
                    ),
                    schema_configuration=firehose.CfnDeliveryStream.SchemaConfigurationProperty(
                        catalog_id=stack.account,
                        database_name=self.database_name,
                        table_name=self.table_name,
                        region=stack.region,
                        role_arn=role.role_arn,
                        version_id="LATEST",
                    ),
                ),
            ),
        )
        stream.node.add_dependency(role.node.find_child("DefaultPolicy"), self.table)
        return stream

    def _add_workgroup(self, scan_limit: Size) -> athena.CfnWorkGroup:
        """Queries of the history: results encrypted with the key under the results prefix, the
        workgroup's settings enforced on every query, a per-query scan limit."""
        return athena.CfnWorkGroup(
            self,
            "Workgroup",
            name=self.workgroup_name,
            description="Queries of the self-hosted Detect window history",
            recursive_delete_option=True,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=int(scan_limit.to_bytes()),
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(
                    selected_engine_version="Athena engine version 3"
                ),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{self.bucket.bucket_name}/{RESULTS_PREFIX}",
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_KMS", kms_key=self.encryption_key.key_arn
                    ),
                ),
            ),
        )


def _logical(construct: Construct) -> str:
    """The logical id cdk-nag names a resource by in a finding's ``<LogicalId.Arn>``."""
    resource = construct.node.default_child
    assert resource is not None
    return Stack.of(construct).get_logical_id(cast(s3.CfnBucket, resource))
