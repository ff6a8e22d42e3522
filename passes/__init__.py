"""zir's passes: the PassManager, pipeline strings, and every transformation and register allocation.

    import passes
    pm = passes.PassManager.parse("O2", verify_each=True)
    report = pm.run(f)                      # per-pass statistics (passes.RunReport)

    @passes.register("my-pass")             # a new pass: a frozen attrs class with run(f, am)
    @attrs.frozen
    class MyPass:
        def run(self, f, am): ...

See docs/passes.md for the passes and docs/writing-a-pass.md for a tutorial.
"""

from passes.analyses import CFG_ANALYSES, AnalysisManager, PreservedAnalyses, register_analysis
from passes.instrument import Bisector, PassRecord, RunReport
from passes.levels import LEVELS, level_pipeline
from passes.manager import PassManager
from passes.pipeline import format_pipeline, parse_pipeline
from passes.registry import Pass, PassResult, describe, known_passes, pass_class, pass_options, register

__all__ = [
    "AnalysisManager", "Bisector", "CFG_ANALYSES", "LEVELS", "Pass", "PassManager", "PassRecord",
    "PassResult", "PreservedAnalyses", "RunReport", "describe", "format_pipeline", "known_passes",
    "level_pipeline", "parse_pipeline", "pass_class", "pass_options", "register", "register_analysis",
]
