"""VAE Explorer engine: NumPy auto-encoders with hand-written back-propagation (no Qt here)."""
