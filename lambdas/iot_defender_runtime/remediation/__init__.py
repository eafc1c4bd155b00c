"""The kit both response functions share: batch intake, configuration, the breaker and the recorded actions."""
