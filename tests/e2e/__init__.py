"""End-to-end tests: real web, worker, broker and embedded server processes."""
