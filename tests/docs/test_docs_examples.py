"""Keep the user documentation in ``docs/`` true to the code.

What is checked
---------------
- Every fenced ```` ```python ```` block of every ``docs/*.md`` page runs. The blocks of one page
  run in order, in one namespace (a page reads like a session), with a fresh scratch folder as the
  working directory, one CPU thread and the feature cache pointed into that folder.
- A block whose info string carries the marker ``no-run`` (```` ```python no-run ````) is only
  shown, never run: use it, sparingly, for code that needs a dataset or long compute.
- Every ``affectlab ...`` command line in a ```` ```bash ```` block names a real (sub)command,
  every ``--option`` / ``-x`` on it is an option of that command, and ``affectlab COMMAND --help``
  exits 0 (through :func:`affectlab.cli.main`, in-process).
- Every ```` ```yaml ```` block parses; a block with ``kind:`` names a known experiment kind, and a
  ``features`` experiment (no ``kind``) with features and classifiers validates with
  :func:`affectlab.experiments.load_config` (data paths not checked).
- ``cli.md`` names every command and sub-command; ``experiments.md`` names every experiment kind.

Run: ``.venv/bin/python -m pytest -q tests/docs``.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCS = REPO_ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
NO_RUN = "no-run"

_FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def _blocks(page: Path, language: str) -> list[tuple[int, list[str], str]]:
    """``(line, info words, code)`` of every fenced block of ``language`` in ``page``."""
    text = page.read_text(encoding="utf-8")
    out = []
    for match in _FENCE.finditer(text):
        words = match.group(1).split()
        if words and words[0] == language:
            out.append((text.count("\n", 0, match.start()) + 1, words[1:], match.group(2)))
    return out


def test_docs_exist() -> None:
    names = {p.name for p in PAGES}
    assert {"index.md", "python-api.md", "experiments.md", "cli.md", "service.md", "evaluation.md"} <= names


def test_markers_are_known() -> None:
    """A typo in a marker (``no_run``) would silently run or skip a block; only ``no-run`` is known."""
    for page in PAGES:
        for line, words, _ in _blocks(page, "python"):
            assert words in ([], [NO_RUN]), f"{page.name}:{line}: unknown marker(s) {words} (known: {NO_RUN})"


# ------------------------------------------------------------------------------------- python blocks

RUNNABLE = [p for p in PAGES if any(NO_RUN not in words for _, words, _ in _blocks(p, "python"))]


@pytest.mark.parametrize("page", RUNNABLE, ids=[p.name for p in RUNNABLE])
def test_python_blocks_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    import torch

    from affectlab.classify import registry as classifier_registry
    from affectlab.features import list_features
    from affectlab.features import registry as feature_registry

    # a page may register its own feature or classifier: keep that out of the other tests' registries
    list_features()  # (loads the built-in features first)
    monkeypatch.setattr(feature_registry, "_REGISTRY", dict(feature_registry._REGISTRY))
    monkeypatch.setattr(classifier_registry, "_REGISTRY", dict(classifier_registry._REGISTRY))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # tempfile.mkdtemp() in a block: cleaned up
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AFFECTLAB_CACHE_DIR", str(tmp_path / "cache"))
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(var, "1")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem.replace('-', '_')}"}
    try:
        for line, words, code in _blocks(page, "python"):
            if NO_RUN in words:
                compile(code, f"{page.name}:{line}", "exec")  # shown code must at least be valid Python
                continue
            try:
                exec(compile(code, f"{page.name}:{line}", "exec"), namespace)
            except Exception as exc:
                raise AssertionError(f"{page.name}, python block at line {line} failed: "
                                     f"{type(exc).__name__}: {exc}") from exc
    finally:
        torch.set_num_threads(threads)


# --------------------------------------------------------------------------------------- bash blocks

def _command_lines(page: Path) -> list[tuple[int, list[str]]]:
    """Every ``affectlab ...`` invocation in the page's bash blocks, as tokens after ``affectlab``."""
    found = []
    for start, _, code in _blocks(page, "bash"):
        logical = code.replace("\\\n", " ").splitlines()
        for offset, raw in enumerate(logical):
            text = raw.split(" #", 1)[0].strip()
            if text.startswith("$ "):
                text = text[2:]
            for part in re.split(r"&&|\|\||;|\|", text):
                part = part.strip()
                if not part.startswith("affectlab ") and part != "affectlab":
                    continue
                tokens = shlex.split(part)[1:]
                tokens = [t for t in tokens if not re.match(r"^\d?>", t)]
                found.append((start + 1 + offset, tokens))
    return found


ALL_COMMANDS = [(p, line, tokens) for p in PAGES for line, tokens in _command_lines(p)]


def _resolve(tokens: list[str]) -> tuple[list[str], click.Command, list[str]]:
    """``(command path, click command, remaining tokens)`` for the tokens after ``affectlab``."""
    from affectlab.cli import cli

    command: click.Command = cli
    path: list[str] = []
    rest = list(tokens)
    while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
        name = rest.pop(0)
        sub = command.commands.get(name)
        assert sub is not None, f"'affectlab {' '.join(path + [name])}' is not a command " \
                                f"(known: {', '.join(sorted(command.commands))})"
        path.append(name)
        command = sub
    return path, command, rest


def _option_names(command: click.Command) -> set[str]:
    names = {"--help", "-h"}
    for param in command.params:
        if isinstance(param, click.Option):
            names.update(param.opts)
            names.update(param.secondary_opts)
    return names


@pytest.mark.parametrize("page,line,tokens", ALL_COMMANDS,
                         ids=[f"{p.name}:{line}" for p, line, _ in ALL_COMMANDS])
def test_bash_commands_exist(page: Path, line: int, tokens: list[str]) -> None:
    try:
        path, command, rest = _resolve(tokens)
    except AssertionError as exc:
        raise AssertionError(f"{page.name}:{line}: {exc}") from None
    known = _option_names(command)
    for token in rest:
        if token.startswith("--") or re.fullmatch(r"-[A-Za-z]", token):
            name = token.split("=", 1)[0]
            assert name in known, (f"{page.name}:{line}: 'affectlab {' '.join(path)}' has no option {name} "
                                   f"(known: {', '.join(sorted(known))})")


@pytest.fixture(scope="module")
def used_commands() -> list[tuple[str, ...]]:
    paths = set()
    for _, _, tokens in ALL_COMMANDS:
        path, _, _ = _resolve(tokens)
        paths.add(tuple(path))
    return sorted(paths)


def test_help_of_every_documented_command(used_commands: list[tuple[str, ...]],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    from affectlab.cli import main

    assert used_commands, "no affectlab command found in the docs' bash blocks"
    for path in used_commands:
        assert main([*path, "--help"]) == 0, f"affectlab {' '.join(path)} --help failed"
        assert "Usage: affectlab" in capsys.readouterr().out


def test_cli_page_names_every_command() -> None:
    from affectlab.cli import cli

    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    missing = []
    for name, command in cli.commands.items():
        if f"affectlab {name}" not in text:
            missing.append(name)
        if isinstance(command, click.Group):
            missing += [f"{name} {sub}" for sub in command.commands if f"affectlab {name} {sub}" not in text]
    assert not missing, f"cli.md does not show: {', '.join(missing)}"


# --------------------------------------------------------------------------------------- yaml blocks

YAML_BLOCKS = [(p, line, code) for p in PAGES for line, _, code in _blocks(p, "yaml")]


@pytest.mark.parametrize("page,line,code", YAML_BLOCKS, ids=[f"{p.name}:{line}" for p, line, _ in YAML_BLOCKS])
def test_yaml_blocks_are_valid(page: Path, line: int, code: str) -> None:
    from affectlab.experiments import load_config
    from affectlab.experiments.kinds import experiment_kind

    raw = yaml.safe_load(code)
    if not isinstance(raw, dict):
        return
    if "kind" in raw:
        experiment_kind(raw)
    if raw.get("kind", "features") == "features" and {"features", "classifiers", "data"} <= set(raw):
        load_config(raw, check_source=False)


def test_experiments_page_names_every_kind() -> None:
    from affectlab.experiments.kinds import EXPERIMENT_KINDS

    text = (DOCS / "experiments.md").read_text(encoding="utf-8")
    missing = [kind for kind in EXPERIMENT_KINDS if f"kind: {kind}" not in text]
    assert not missing, f"experiments.md does not document kind(s): {', '.join(missing)}"


def test_links_between_pages_resolve() -> None:
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#\s]+\.md)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            if "://" in target:
                continue
            assert (page.parent / target).is_file(), f"{page.name}: link to missing {target}"

