"""Old name of :mod:`affectlab.checks` (kept for code that imports it)."""
from affectlab.checks import *  # noqa: F403
from affectlab.checks import __all__  # noqa: F401
