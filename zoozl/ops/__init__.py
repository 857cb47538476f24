"""Operations: logging set-up (logs.py) and the Prometheus metrics (metrics.py)."""
