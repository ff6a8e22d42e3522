"""zir's passes: the PassManager, pipeline strings, and every transformation and register allocation."""
