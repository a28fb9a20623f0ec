"""Developer scripts (`python -m scripts.stack demo|dev`)."""
