"""The small CSR framework: an internal register bus, its AXI4-Lite and Wishbone front ends,
and register blocks generated from :mod:`hauler.registers`."""
