# lit configuration for zir's FileCheck tests (run by tests/test_lit.py, or `lit -v tests/lit`).
#
# A test is a .zir file with `; RUN:` lines (`%s` is the file itself) and `; CHECK:` lines for
# filecheck, e.g. `; RUN: zir opt %s | filecheck %s`. The `zir` and `filecheck` commands are found
# next to the Python that runs lit (the project's .venv/bin), then on PATH.
# (`config` and `lit_config` are globals that lit provides when it executes this file.)

import os
import sys
import tempfile

import lit.formats

config.name = "zir"
# lit's own shell: portable, and it provides `not` (LLVM's negation) without a binary.
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".zir"]
config.excludes = ["Inputs"]
config.test_source_root = os.path.dirname(os.path.abspath(__file__))
# Output/ scratch files go outside the source tree; test_lit.py gives each run its own directory.
config.test_exec_root = os.environ.get("ZIR_LIT_EXEC_ROOT") or os.path.join(
    tempfile.gettempdir(), f"zir-lit-{os.getuid()}")

bindir = os.path.dirname(sys.executable)
config.environment["PATH"] = os.pathsep.join([bindir, os.environ.get("PATH", "")])
for var in ("HOME", "LANG", "LC_ALL", "PYTHONPATH", "ZIR_HYPOTHESIS_PROFILE"):
    if var in os.environ:
        config.environment[var] = os.environ[var]
# Messages and output are UTF-8 whatever the locale.
config.environment["PYTHONIOENCODING"] = "utf-8"
