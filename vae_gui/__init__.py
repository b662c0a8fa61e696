"""VAE Explorer's Qt program (PyQt6 + pyqtgraph) over the engine in ``core``."""
