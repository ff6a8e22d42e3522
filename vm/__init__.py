"""zir's virtual machines: stack mode (ZBC) and register mode, frames, pools, profiler, async runtime."""
