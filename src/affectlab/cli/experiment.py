"""``affectlab experiment`` (placeholder, filled by the evaluation work)."""

import click


@click.command("experiment")
def experiment_command() -> None:
    """Run an experiment from a YAML config."""
