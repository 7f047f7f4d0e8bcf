"""Benchmarks behind ``memhil bench``: each module's ``run(json_out)`` measures ratios side by
side in one run (twin vs float, RTL cycles vs the bound, host link throughput, training epoch).
The cocotb side of the RTL benchmark is a testbench, in sim/bench_rtl/ with the others."""
