"""Benchmarks of the Model Trainer Service; run each as a module: `python -m bench.throughput`."""
