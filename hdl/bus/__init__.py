"""External buses (AXI4, AXI4-Lite, Wishbone) and the adapters onto the neutral memory ports."""
