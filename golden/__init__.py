"""Bit-accurate NumPy golden model of the atsnn accelerator (docs/golden.md)."""

from atsnn.golden.engine import Result, lif_update, run
from atsnn.model_image import ModelImage, ModelImageError, load, load_model, resolve_model, save

__all__ = ["ModelImage", "ModelImageError", "Result", "lif_update", "load", "load_model",
           "resolve_model", "run", "save"]
