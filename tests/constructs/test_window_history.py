"""SelfHostedDetect(history=...): the Firehose stream converting JSON rows to Parquet with the Glue
table (whose columns are the model's), the encrypted bucket with its lifecycle rule, the Athena
workgroup, least-privilege IAM (exact statements), the evaluator wired to the stream; nag and
cfn-lint clean; argument validation with exact messages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import aws_cdk as cdk
import pytest

from constructs_lib import AlertTopic, ConstructValidationError, SelfHostedDetect, StarterBehaviors, apply_nag_packs
from constructs_lib.detect.window_history import WindowHistoryOptions
from constructs_lib.synth_report import cfn_lint_findings
from iot_defender_runtime.model.window_history import HISTORY_COLUMNS, PARTITION_COLUMN
from tests.synth.templates import of_type

# As the reference app's cdk.json: server access logs are delivered under a bucket policy, not an ACL
CONTEXT = {"@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True}


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> dict[str, Any]:
    outdir = tmp_path_factory.mktemp("window_history")
    app = cdk.App(outdir=str(outdir), context=CONTEXT)
    stack = cdk.Stack(app, "History")
    SelfHostedDetect(
        stack,
        "Detect",
        behaviors=[StarterBehaviors.message_storm()],
        alert_topic=AlertTopic(stack, "Alerts"),
        history=WindowHistoryOptions(retention=cdk.Duration.days(45), query_scan_limit=cdk.Size.gibibytes(1)),
    )
    apply_nag_packs(app)
    assembly = app.synth()  # raises on any unacknowledged AwsSolutions or Serverless finding
    assert cfn_lint_findings(Path(assembly.directory) / "History.template.json") == []
    return assembly.get_stack_by_name("History").template


def one(template: dict[str, Any], resource_type: str) -> tuple[str, dict[str, Any]]:
    [(key, resource)] = of_type(template, resource_type).items()
    return key, resource["Properties"]


def logical_id(template: dict[str, Any], resource_type: str, containing: str) -> str:
    [key] = [k for k in of_type(template, resource_type) if containing in k]
    return key


def statements_of(template: dict[str, Any], role: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in of_type(template, "AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_the_stream_converts_json_rows_to_parquet_with_the_glue_tables_schema(template):
    _, stream = one(template, "AWS::KinesisFirehose::DeliveryStream")
    key = logical_id(template, "AWS::KMS::Key", "HistoryKey")
    table = logical_id(template, "AWS::Glue::Table", "HistoryTable")
    destination = stream["ExtendedS3DestinationConfiguration"]
    assert stream["DeliveryStreamType"] == "DirectPut"
    assert stream["DeliveryStreamEncryptionConfigurationInput"] == {
        "KeyType": "CUSTOMER_MANAGED_CMK",
        "KeyARN": {"Fn::GetAtt": [key, "Arn"]},
    }
    conversion = destination["DataFormatConversionConfiguration"]
    assert conversion["Enabled"] is True
    assert conversion["InputFormatConfiguration"] == {"Deserializer": {"OpenXJsonSerDe": {}}}
    assert conversion["OutputFormatConfiguration"] == {"Serializer": {"ParquetSerDe": {"Compression": "SNAPPY"}}}
    schema = conversion["SchemaConfiguration"]
    database_name = template["Resources"][table]["Properties"]["DatabaseName"]
    assert (schema["DatabaseName"], schema["TableName"], schema["VersionId"]) == (database_name, "windows", "LATEST")
    # conversion needs at least 64 MiB of buffer and an uncompressed destination (Parquet compresses itself)
    assert destination["BufferingHints"] == {"IntervalInSeconds": 300, "SizeInMBs": 128}
    assert destination["CompressionFormat"] == "UNCOMPRESSED"
    assert destination["Prefix"] == "windows/dt=!{timestamp:yyyy-MM-dd}/"
    assert destination["ErrorOutputPrefix"] == "errors/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/"
    assert destination["EncryptionConfiguration"] == {
        "KMSEncryptionConfig": {"AWSKMSKeyARN": {"Fn::GetAtt": [key, "Arn"]}}
    }
    logging = destination["CloudWatchLoggingOptions"]
    assert logging["Enabled"] is True and logging["LogStreamName"] == {
        "Ref": logical_id(template, "AWS::Logs::LogStream", "")
    }


def test_the_glue_tables_columns_are_the_models_and_dt_is_projected(template):
    _, table = one(template, "AWS::Glue::Table")
    described = table["TableInput"]
    storage = described["StorageDescriptor"]
    assert [(c["Name"], c["Type"]) for c in storage["Columns"]] == list(HISTORY_COLUMNS)
    assert [(c["Name"], c["Type"]) for c in described["PartitionKeys"]] == [PARTITION_COLUMN]
    assert storage["SerdeInfo"]["SerializationLibrary"] == "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    parameters = described["Parameters"]
    assert {k: v for k, v in parameters.items() if k.startswith("projection.")} == {
        "projection.enabled": "true",
        "projection.dt.type": "date",
        "projection.dt.format": "yyyy-MM-dd",
        "projection.dt.range": "NOW-46DAYS,NOW",
        "projection.dt.interval": "1",
        "projection.dt.interval.unit": "DAYS",
    }
    bucket = logical_id(template, "AWS::S3::Bucket", "HistoryBucket")
    assert parameters["storage.location.template"] == {
        "Fn::Join": ["", ["s3://", {"Ref": bucket}, "/windows/dt=${dt}/"]]
    }


def test_the_bucket_is_encrypted_with_the_rotated_key_tls_only_private_logged_and_expires_rows(template):
    bucket_id = logical_id(template, "AWS::S3::Bucket", "HistoryBucket")
    logs_id = logical_id(template, "AWS::S3::Bucket", "HistoryAccessLogs")
    key_id = logical_id(template, "AWS::KMS::Key", "HistoryKey")
    bucket = template["Resources"][bucket_id]["Properties"]
    assert template["Resources"][key_id]["Properties"]["EnableKeyRotation"] is True
    [encryption] = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption == {
        "BucketKeyEnabled": True,
        "ServerSideEncryptionByDefault": {"KMSMasterKeyID": {"Fn::GetAtt": [key_id, "Arn"]}, "SSEAlgorithm": "aws:kms"},
    }
    assert bucket["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True
    )
    assert bucket["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": logs_id}
    assert bucket["LifecycleConfiguration"] == {
        "Rules": [
            {
                "Id": "Retention",
                "Status": "Enabled",
                "ExpirationInDays": 45,
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
            }
        ]
    }
    policies = [p["Properties"] for p in of_type(template, "AWS::S3::BucketPolicy").values()]
    [policy] = [p for p in policies if p["Bucket"] == {"Ref": bucket_id}]
    [deny] = policy["PolicyDocument"]["Statement"]
    assert (deny["Effect"], deny["Condition"]) == ("Deny", {"Bool": {"aws:SecureTransport": "false"}})


def test_the_workgroup_enforces_encrypted_results_in_the_bucket_and_a_scan_limit(template):
    _, workgroup = one(template, "AWS::Athena::WorkGroup")
    configuration = workgroup["WorkGroupConfiguration"]
    key_id = logical_id(template, "AWS::KMS::Key", "HistoryKey")
    bucket = logical_id(template, "AWS::S3::Bucket", "HistoryBucket")
    assert configuration["EnforceWorkGroupConfiguration"] is True
    assert configuration["BytesScannedCutoffPerQuery"] == 1024**3
    assert configuration["ResultConfiguration"] == {
        "EncryptionConfiguration": {"EncryptionOption": "SSE_KMS", "KmsKey": {"Fn::GetAtt": [key_id, "Arn"]}},
        "OutputLocation": {"Fn::Join": ["", ["s3://", {"Ref": bucket}, "/athena-results/"]]},
    }


def glue_arn(resource: str) -> dict[str, Any]:
    return {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":glue:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                resource,
            ],
        ]
    }


def test_firehoses_role_has_exactly_the_table_the_prefixes_the_key_and_its_log_stream(template):
    role = logical_id(template, "AWS::IAM::Role", "HistoryDeliveryRole")
    database = template["Resources"][logical_id(template, "AWS::Glue::Table", "")]["Properties"]["DatabaseName"]
    bucket = {"Fn::GetAtt": [logical_id(template, "AWS::S3::Bucket", "HistoryBucket"), "Arn"]}
    key = {"Fn::GetAtt": [logical_id(template, "AWS::KMS::Key", "HistoryKey"), "Arn"]}
    log_group = {"Ref": logical_id(template, "AWS::Logs::LogGroup", "HistoryDeliveryLogs")}
    trust = template["Resources"][role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust == [
        {
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": {"Ref": "AWS::AccountId"}}},
            "Effect": "Allow",
            "Principal": {"Service": "firehose.amazonaws.com"},
        }
    ]
    assert statements_of(template, role) == [
        {
            "Action": ["glue:GetTable", "glue:GetTableVersion", "glue:GetTableVersions"],
            "Effect": "Allow",
            "Resource": [
                glue_arn(":catalog"),
                glue_arn(f":database/{database}"),
                glue_arn(f":table/{database}/windows"),
            ],
        },
        {
            "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
            "Effect": "Allow",
            "Resource": bucket,
        },
        {
            "Action": ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"],
            "Effect": "Allow",
            "Resource": [{"Fn::Join": ["", [bucket, "/windows/*"]]}, {"Fn::Join": ["", [bucket, "/errors/*"]]}],
        },
        {
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Condition": {
                "StringEquals": {
                    "kms:ViaService": {"Fn::Join": ["", ["s3.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]},
                    "kms:EncryptionContext:aws:s3:arn": bucket,
                }
            },
            "Effect": "Allow",
            "Resource": key,
        },
        {
            "Action": "logs:PutLogEvents",
            "Effect": "Allow",
            "Resource": {
                "Fn::Join": [
                    "",
                    [
                        "arn:", {"Ref": "AWS::Partition"}, ":logs:", {"Ref": "AWS::Region"}, ":",
                        {"Ref": "AWS::AccountId"}, ":log-group:", log_group, ":log-stream:S3Delivery",
                    ],
                ]
            },
        },
    ]  # fmt: skip


def test_the_evaluator_may_only_put_record_batches_on_this_stream_and_is_told_its_name(template):
    stream = logical_id(template, "AWS::KinesisFirehose::DeliveryStream", "")
    firehose_statements = [
        statement
        for policy in of_type(template, "AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "firehose:" in json.dumps(statement["Action"])
    ]
    assert firehose_statements == [
        {"Action": "firehose:PutRecordBatch", "Effect": "Allow", "Resource": {"Fn::GetAtt": [stream, "Arn"]}}
    ]
    [function] = [f["Properties"] for k, f in of_type(template, "AWS::Lambda::Function").items() if "Evaluator" in k]
    assert function["Environment"]["Variables"]["HISTORY_STREAM_NAME"] == {"Ref": stream}


def test_history_is_off_by_default():
    stack = cdk.Stack(cdk.App(), "S")
    detect = SelfHostedDetect(
        stack, "D", behaviors=[StarterBehaviors.message_storm()], alert_topic=AlertTopic(stack, "A")
    )
    template = dict(cdk.assertions.Template.from_stack(stack).to_json())
    assert detect.history is None
    assert of_type(template, "AWS::KinesisFirehose::DeliveryStream") == {}
    assert of_type(template, "AWS::S3::Bucket") == {}
    assert "HISTORY_STREAM_NAME" not in json.dumps(template)


def test_history_true_keeps_30_days_and_exposes_what_users_query_with():
    stack = cdk.Stack(cdk.App(context=CONTEXT), "S")
    detect = SelfHostedDetect(
        stack, "D", behaviors=[StarterBehaviors.message_storm()], alert_topic=AlertTopic(stack, "A"), history=True
    )
    assert detect.history is not None
    template = cdk.assertions.Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {"LifecycleConfiguration": {"Rules": [cdk.assertions.Match.object_like({"ExpirationInDays": 30})]}},
    )
    assert detect.history.table_name == "windows"
    assert detect.history.retention_days == 30
    resolved = stack.resolve(detect.history.database_name)
    assert resolved == stack.resolve(detect.history.workgroup_name) and resolved.startswith("s_d_history_")
    outputs = template.to_json()["Outputs"]
    assert sorted(output["Description"] for output in outputs.values()) == [
        "Window history: Athena workgroup",
        "Window history: BucketName",
        "Window history: DatabaseName",
    ]


def fails_with(history: object) -> tuple[str, ...]:
    stack = cdk.Stack(cdk.App(), "S")
    with pytest.raises(ConstructValidationError) as raised:
        SelfHostedDetect(
            stack,
            "D",
            behaviors=[StarterBehaviors.message_storm()],
            alert_topic=AlertTopic(stack, "A"),
            history=history,  # type: ignore[arg-type]
        )
    return raised.value.problems


def test_fails_when_history_is_not_a_switch_or_options():
    assert fails_with("yes") == (
        "history 'yes' must be True, False or WindowHistoryOptions(retention=Duration.days(30))",
    )


def test_fails_when_retention_is_not_whole_days_from_1_to_3650():
    assert fails_with(WindowHistoryOptions(retention=cdk.Duration.days(3651))) == (
        "history.retention 3651 days must be whole days, 1 to 3650",
    )
    assert fails_with(WindowHistoryOptions(retention=cdk.Duration.hours(36))) == (
        "history.retention 1.5 days must be whole days, 1 to 3650",
    )


def test_fails_when_retention_is_not_a_duration():
    assert fails_with(WindowHistoryOptions(retention=30)) == (  # type: ignore[arg-type]
        "history.retention 30 must be an aws_cdk.Duration, e.g. Duration.days(30)",
    )


def test_fails_when_the_buffer_interval_is_outside_60_to_900_seconds():
    assert fails_with(WindowHistoryOptions(buffer_interval=cdk.Duration.seconds(30))) == (
        "history.buffer_interval 30 seconds must be 60 to 900 seconds",
    )


def test_fails_when_the_query_scan_limit_is_below_athenas_10_mb():
    assert fails_with(WindowHistoryOptions(query_scan_limit=cdk.Size.mebibytes(1))) == (
        "history.query_scan_limit must be a known size of at least 10 MB (10,000,000 bytes)",
    )


def test_grant_query_gives_the_workgroup_the_table_the_rows_the_results_prefix_and_the_key():
    stack = cdk.Stack(cdk.App(context=CONTEXT), "S")
    detect = SelfHostedDetect(
        stack, "D", behaviors=[StarterBehaviors.message_storm()], alert_topic=AlertTopic(stack, "A"), history=True
    )
    assert detect.history is not None
    analyst = cdk.aws_iam.Role(
        stack, "Analyst", assumed_by=cast(cdk.aws_iam.IPrincipal, cdk.aws_iam.AccountRootPrincipal())
    )
    detect.history.grant_query(analyst)
    template = dict(cdk.assertions.Template.from_stack(stack).to_json())
    granted = statements_of(template, logical_id(template, "AWS::IAM::Role", "Analyst"))
    actions = [statement["Action"] for statement in granted]
    assert actions == [
        [
            "athena:StartQueryExecution",
            "athena:GetQueryExecution",
            "athena:GetQueryResults",
            "athena:StopQueryExecution",
            "athena:GetWorkGroup",
        ],
        ["glue:GetDatabase", "glue:GetTable"],
        ["s3:GetBucketLocation", "s3:ListBucket"],
        "s3:GetObject",
        ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
        ["kms:Decrypt", "kms:GenerateDataKey"],
    ]
    bucket = {"Fn::GetAtt": [logical_id(template, "AWS::S3::Bucket", "HistoryBucket"), "Arn"]}
    assert granted[3]["Resource"] == {"Fn::Join": ["", [bucket, "/windows/*"]]}
    assert granted[4]["Resource"] == {"Fn::Join": ["", [bucket, "/athena-results/*"]]}
    assert "*" not in json.dumps([statement["Resource"] for statement in granted]).replace("/*", "")
