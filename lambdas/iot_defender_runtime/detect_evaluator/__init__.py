"""Self-hosted Detect: evaluates behavior definitions on datapoints from a Kinesis stream."""
