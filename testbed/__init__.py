"""What the tests and the benchmarks share: processes, clients, fakes, the test bot."""
