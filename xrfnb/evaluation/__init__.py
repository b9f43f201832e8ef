"""Chapter 7: evaluation against the paper, the compared models, diagnosis and the verdict."""
