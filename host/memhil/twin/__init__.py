"""memhil.twin: the bit-exact software twin of the crossbar (docs/hardware-contract.md)."""
from memhil.twin.core import Twin, TwinError, mix32_t  # noqa: F401
