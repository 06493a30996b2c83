"""Interoperability: NIR import and export (docs/nir.md)."""
