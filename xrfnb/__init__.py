"""xrfnb: reproducible companion to Bombini et al. (2024)."""
