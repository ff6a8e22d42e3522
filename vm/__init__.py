"""zir's virtual machines: stack mode (ZBC) and register mode, frames, pools, profiler, async runtime.

The public entry point is `vm.VM` (vm/machine.py); `vm.VMFunction` is the function object made from
ZBC that has no CPython code.
"""

from vm.machine import VM, Compiled
from vm.runtime import VMFault, VMFunction, VMLimitError

__all__ = ["VM", "Compiled", "VMFault", "VMFunction", "VMLimitError"]
