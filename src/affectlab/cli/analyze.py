"""``affectlab analyze`` (placeholder until the analysis pipeline lands)."""

import click


@click.command("analyze")
def analyze_command() -> None:
    """Analyse faces in images."""
