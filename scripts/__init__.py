"""Development scripts: run each as `python -m scripts.NAME` from the checkout."""
