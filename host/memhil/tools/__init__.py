"""Tool wrappers (Verilator, Yosys) used by the simulation, lint and synthesis flows."""
