"""Host runtime: the protocol codec, the device model, the crossbar driver and its transports."""
