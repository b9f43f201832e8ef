"""Measured scans: reading vendor formats, recolouring them and explaining them with pigments."""
