"""Training tools for the semantic cache's verifiers (run with ``python -m training.NAME``)."""
