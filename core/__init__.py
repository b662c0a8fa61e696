"""VAE Explorer engine: NumPy auto-encoders with hand-written back-propagation (no Qt here)."""
__version__ = "0.3.0"  # the program version a model file records (pyproject.toml has the same)
