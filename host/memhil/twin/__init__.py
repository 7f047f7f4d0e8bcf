"""memhil.twin: the bit-exact software twin of the crossbar (docs/hardware-contract.md).

Importing it registers the ``twin`` kind with :func:`memhil.backend.open_backend`.
"""
from memhil.twin.core import Twin, TwinError, mix32_t  # noqa: F401
