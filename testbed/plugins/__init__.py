"""Plugin modules the tests and benchmarks load by name (`testbed.plugins.NAME`)."""
