"""Chapter 2: the seed paintings (bundled, Wikidata, or a folder)."""
