"""The scaling study: training the compared models on nested training sets, fits and report."""
