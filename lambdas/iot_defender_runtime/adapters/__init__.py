"""Every AWS call the functions make: boto3 clients with retries, one module per service or store."""
