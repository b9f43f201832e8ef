"""Chapter 1: the pigment palette and its physically computed XRF spectra."""
