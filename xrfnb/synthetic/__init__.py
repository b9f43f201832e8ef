"""Chapter 3: synthetic MA-XRF datacubes from paintings, their dataset store and what the data allow."""
