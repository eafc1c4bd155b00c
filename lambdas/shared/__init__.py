"""Event models, configuration and AWS adapters shared by the functions."""
