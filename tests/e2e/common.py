# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers shared by the end-to-end scripts (standard library only)."""
import ctypes
import signal

try:
    _LIBC = ctypes.CDLL(None, use_errno=True)
except OSError:
    _LIBC = None


def die_with_parent():
    """In a child before exec: SIGKILL it if the test process dies without cleaning up."""
    if _LIBC is not None:
        _LIBC.prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG (Linux)


def short(value, limit=300):
    """A value cut to `limit` characters, for failure details."""
    s = value if isinstance(value, str) else repr(value)
    return s if len(s) <= limit else s[:limit] + "..."
