"""Chapter 6: SmallUViT, the compared models, and training the recolouring model."""
