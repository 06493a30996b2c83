"""atsnn: an adaptive-timestep spiking neural network accelerator.

The work lives in the subpackages ``atsnn.golden`` (bit-accurate NumPy model),
``atsnn.model`` (PyTorch training and export), ``atsnn.rtl`` (Amaranth
accelerator) and ``atsnn.tb`` (cocotb testbenches).
"""

__version__ = "0.1.0"


class AtsnnError(ValueError):
    """An error in what the user gave (a file, a flag, a model); the message says
    what is wrong and where, and the command line prints it without a traceback."""
