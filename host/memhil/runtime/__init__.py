"""Host runtime: the protocol codec, the device model, the crossbar driver and its transports.

The common names are importable from here (lazily, so that ``memhil.runtime.protocol`` stays
light): ``Crossbar``, ``LockstepCrossbar``, ``DivergenceError``, ``LinkError``, ``DeviceError``,
``LoopbackTransport``, ``SerialTransport``, ``FaultyTransport``, ``TransportError``,
``PynqTransport``, ``open_sim``, ``start_server``, ``SimParams``, ``open_crossbar`` (what
``memhil.backend.open_backend`` opens for ``--backend sim|board``; importing
``memhil.runtime.session`` registers those kinds). See docs/host-runtime.md.
"""

_NAMES = {
    "Crossbar": "driver", "LinkError": "driver", "DeviceError": "driver",
    "LockstepCrossbar": "lockstep", "DivergenceError": "lockstep",
    "Transport": "transport", "LoopbackTransport": "transport", "SerialTransport": "transport",
    "FaultyTransport": "transport", "TransportError": "transport",
    "PynqTransport": "pynq_transport",
    "open_sim": "sim_link", "start_server": "sim_link", "SimParams": "sim_link",
    "TwinDevice": "device_model",
    "open_crossbar": "session",
}


def __getattr__(name):
    if name in _NAMES:
        import importlib

        return getattr(importlib.import_module(f"memhil.runtime.{_NAMES[name]}"), name)
    raise AttributeError(name)
