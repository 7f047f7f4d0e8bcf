# SPDX-License-Identifier: MIT
"""pytest setup for the cocotb testbenches under sim/: shared helpers live in sim/memhil_sim."""
import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:
    sys.path.insert(0, str(_HERE))
