"""The ``affectlab`` command line: thin commands over the library.

Each subcommand lives in its own module; user errors (:class:`affectlab.errors.AffectLabError`)
become one line on stderr and exit status 1, never a traceback.
"""

from __future__ import annotations

import os
import sys

import click

from affectlab import __version__
from affectlab.errors import AffectLabError

__all__ = ["main", "cli"]


class _AffectLabGroup(click.Group):
    """A click group that turns AffectLab errors into one clear line and exit status 1."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except AffectLabError as exc:
            click.echo(f"affectlab: error: {exc}", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("affectlab: interrupted", err=True)
            ctx.exit(130)


@click.group(cls=_AffectLabGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="affectlab")
def cli() -> None:
    """AffectLab: recognise facial expressions and speech emotion, offline.

    \b
    Start with:
      affectlab analyze                 analyse the built-in sample photograph
      affectlab analyze photo.jpg       one JSON line per input image
      affectlab live 0                  the first camera, frame by frame, until Ctrl-C
      affectlab data info DATASET       totals per split, class and subject
      affectlab experiment CONFIG.yaml  run a subject-independent experiment

    Every command explains itself: affectlab COMMAND --help.
    """
    _quiet_native_libraries(decoders=click.get_current_context().invoked_subcommand != "serve")


def _quiet_native_libraries(*, decoders: bool) -> None:
    """Silence what native decoders print of a corrupt file, which would stand next to the one error the command
    prints for it: OpenCV's log lines (``[ WARN:0@2.4] global grfmt_png.cpp ... PNG input buffer is
    incomplete``) unless the user set ``OPENCV_LOG_LEVEL``, and with ``decoders`` mpg123's notes while audio is
    decoded and libpng's while images are (``affectlab.data.decoders.QUIET_DECODERS_ENV``; not for the server,
    whose other threads log to stderr meanwhile) unless the user set that. Environment variables, so worker
    processes started later follow; the library, used from Python, leaves both alone."""
    from affectlab.data.decoders import QUIET_DECODERS_ENV

    if decoders and QUIET_DECODERS_ENV not in os.environ:
        os.environ[QUIET_DECODERS_ENV] = "1"
    if "OPENCV_LOG_LEVEL" in os.environ:
        return
    os.environ["OPENCV_LOG_LEVEL"] = "SILENT"
    if "cv2" in sys.modules:  # read only when OpenCV starts: set the running one too
        cv2 = sys.modules["cv2"]
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)


#: (module, attribute) of every subcommand, in --help order.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("affectlab.cli.analyze", "analyze_command"),
    ("affectlab.cli.live", "live_command"),
    ("affectlab.cli.evaluate", "evaluate_command"),
    ("affectlab.cli.explain", "explain_command"),
    ("affectlab.cli.explain", "fool_command"),
    ("affectlab.cli.data", "data_group"),
    ("affectlab.cli.experiment", "experiment_command"),
    ("affectlab.cli.compare", "compare_command"),
    ("affectlab.cli.report", "report_command"),
    ("affectlab.cli.cache", "cache_group"),
    ("affectlab.cli.train", "train_command"),
    ("affectlab.cli.clips", "clips_group"),
    ("affectlab.cli.batch", "batch_command"),
    ("affectlab.cli.serve", "serve_command"),
)


def _register() -> None:
    import importlib

    for module_name, attr in COMMANDS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:  # that command is not part of this build yet
                continue
            raise
        if hasattr(module, attr):
            cli.add_command(getattr(module, attr))


_register()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``affectlab`` script; returns the exit status."""
    try:
        cli.main(args=argv, prog_name="affectlab", standalone_mode=True)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
