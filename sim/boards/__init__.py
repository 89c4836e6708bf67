"""Simulation of the demo SoC (hauler.boards): bus models for unit tests, the UART model and
the whole-board cocotb bench."""
