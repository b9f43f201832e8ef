"""Chapters 4 and 5: the Deep Variational Embedding of spectra and the embedded dataset."""
