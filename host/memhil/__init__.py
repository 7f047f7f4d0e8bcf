"""memhil: hardware-in-the-loop deep learning on memristive crossbars.

The device model (:class:`DeviceConfig`), the bit-exact twin (:class:`memhil.twin.Twin`),
the hardware protocol and transports (``memhil.runtime``), crossbar layers and training
(``memhil.nn``), data sets (``memhil.data``) and the experiments and CLI.
"""
from memhil.config import ConfigError, DeviceConfig  # noqa: F401

__version__ = "0.1.0"


def __getattr__(name):  # lazy: importing memhil must not pull torch for the CLI's --help
    if name == "Twin":
        from memhil.twin import Twin
        return Twin
    raise AttributeError(name)
