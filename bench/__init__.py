"""scripts/bench: what users wait for, measured on the local environment (``runner``); run as ``python -m bench``."""
