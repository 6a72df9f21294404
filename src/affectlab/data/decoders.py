"""Native decoders' own stderr lines, dropped while a file is decoded (CLI only).

C libraries such as libpng ("libpng error: IDAT: invalid stored block lengths") and mpg123
("Note: Illegal Audio-MPEG-Header ...") write to file descriptor 2 directly, past ``sys.stderr``,
next to the one error line the command prints for the file. The ``affectlab`` command sets
``$AFFECTLAB_QUIET_DECODERS=1`` (``serve`` excepted), and the image and audio readers decode inside
:func:`decoder_stderr_dropped`; the library used from Python is unchanged.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator

__all__ = ["QUIET_DECODERS_ENV", "decoder_stderr_dropped"]

#: Set to "1" (the ``affectlab`` command does) to drop what native decoders write to stderr.
QUIET_DECODERS_ENV = "AFFECTLAB_QUIET_DECODERS"
_STDERR_LOCK = threading.Lock()


@contextlib.contextmanager
def decoder_stderr_dropped() -> Iterator[None]:
    """While decoding, point file descriptor 2 at /dev/null when ``$AFFECTLAB_QUIET_DECODERS`` is "1";
    otherwise do nothing. One redirect at a time in a process."""
    if os.environ.get(QUIET_DECODERS_ENV) != "1":
        yield
        return
    with _STDERR_LOCK:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            sys.stderr.flush()
        try:
            saved = os.dup(2)
        except OSError:  # no file descriptor 2 (a closed stderr): nothing to drop
            yield
            return
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)
