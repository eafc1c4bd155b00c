"""Pure definitions shared by the constructs and the functions: no boto3, no aws_cdk, no Powertools."""
