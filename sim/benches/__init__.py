"""cocotb test modules, run through :func:`hauler.sim.runner.run`."""
