"""The data engine: channels, burst planning, arbitration and the data mover."""
