"""Local real parts and the two stand-ins (Cloud API emulator, provider) for tests and `make demo`."""
