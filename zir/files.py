"""Writing output files the way every zir entry point does (the API's `zir.dot.render` and the
`zir` command's `-o`).

A regular file (or a new one) is replaced only when the whole output is written: the data goes to
a scratch file beside it, which then takes its name (`os.replace`), so an error never leaves a
half-written file, and a scratch file is never left behind. A path that exists and is not a regular
file (`/dev/null`, a FIFO, `/dev/stdout`) is written into instead: replacing the node would destroy
it (as root, /dev/null would become a regular file), and there is nothing half-written to avoid.
"""

from __future__ import annotations

import os
import stat
import tempfile

from zir.errors import ZirError


def is_special_file(path: str | os.PathLike[str]) -> bool:
    """Whether `path` exists and is not a regular file (a device, a FIFO, a socket)."""
    try:
        return not stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def write_file(path: str | os.PathLike[str], data: bytes) -> None:
    """Write `data` to `path` (see the module docstring); `zir.ZirError` naming the path when the
    system refuses."""
    try:
        if is_special_file(path):
            with open(path, "wb") as fh:
                fh.write(data)
            return
        directory = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(prefix=".zir-", dir=directory)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            # mkstemp makes the file private (0600); give it the mode a plain open() would.
            os.chmod(tmp, _new_file_mode(path))
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as e:
        raise ZirError(f"cannot write {os.fspath(path)}: {e.strerror or e}") from e


def _new_file_mode(path: str | os.PathLike[str]) -> int:
    """The permission bits for `path`: those it has when it exists, else 0666 less the umask."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask
