"""Benchmarks of training, the bundle and the request path (`python -m benchmarks.run`); not tests."""
