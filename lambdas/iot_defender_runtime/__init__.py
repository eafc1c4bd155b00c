"""Lambda runtime for the Device Defender construct pack (boto3 and Powertools only, never aws_cdk)."""
