"""Keep the shell lines, paths and links of ``README.md`` and ``docs/**/*.md`` true to the code.

Nothing documented is executed; everything is checked by introspection, in a few seconds:

- every ``affectlab <command> [<subcommand>] ...`` invocation, in a fenced ```` ```bash ````,
  ```` ```sh ````, ```` ```shell ```` or ```` ```console ```` block (line continuations, comments,
  pipes, ``&&``, ``;`` and ``$`` prompts handled) or in an inline code span of the prose and tables,
  names a command registered in the click group :data:`affectlab.cli.cli`, and every ``--long``
  (``--long=value``, ``--no-flag`` of a boolean flag) and ``-s`` option on it is one of that
  command's click options, the value of a ``click.Choice`` option is one of its choices, a bare
  ``--model`` / ``--init`` value is a registered model (or ``default``), and the number of
  positional arguments fits the command;
- ``python benchmarks/X.py --opt`` (and any other repo script run with ``python``): the script
  exists and, when it declares argparse or click options, ``--opt`` is one of them (read from the
  script's source with :mod:`ast`, never run);
- an option shown alone in prose (```--max-faces N```, ```-o/--output FILE```,
  ```--format md|csv|json```) is an option of the commands or scripts its section names or runs
  (its choices too), or, in a section without any, of some command or benchmark script;
- ``make TARGET``: ``TARGET`` is a rule of the ``Makefile``; ``pytest FILE -k WORD``: a test of
  ``FILE`` has ``WORD`` in its name;
- every path inside the repository that the pages name (``configs/...``, ``benchmarks/...``,
  ``docs/...``, ``src/...``, ``tests/...``, ``scripts/...``, ``examples/...``; a ``.py`` path
  relative to ``src/affectlab/`` also counts) exists, and ``file.py:name`` names a top-level
  ``def`` / ``class`` / assignment of that file;
- every relative Markdown link ``[text](path#anchor)`` points at an existing file, and its anchor
  (if any, and the target is Markdown) at a heading of that file, by GitHub's slug rule;
- every ``affectlab.x.y`` / ``affectlab.x:y`` name in an inline span exists (imported), and a
  signature shown as ``affectlab.x.f(a, *, b=1)`` names only parameters ``f`` has, with the
  literal defaults it has, and all of them unless it ends with ``...``;
- every long option of every command appears in ``docs/cli.md`` (``batch``, ``serve``: or
  ``docs/service.md``).

Problems are reported one per line as ``README.md:LINE: `affectlab foo --bar`: no option --bar
(options: ...)``. The tests are ``tests/docs/test_readme_commands.py``
(``.venv/bin/python -m pytest -q tests/docs/test_readme_commands.py``).
"""

from __future__ import annotations

import ast
import difflib
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import click

REPO_ROOT = Path(__file__).resolve().parents[2]
PAGES = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").rglob("*.md"))]

#: fenced-block languages whose lines are shell commands (``console``: only ``$ `` lines)
SHELL_LANGUAGES = {"bash", "sh", "shell", "zsh", "console", "shell-session"}
#: first path components that make a path "inside the repository"
REPO_DIRS = ("configs", "benchmarks", "docs", "examples", "scripts", "src", "tests")
#: options of ``affectlab`` commands whose value is a file or folder the command writes
OUTPUT_OPTIONS = {"--out", "-o", "--output", "--save", "--plot", "--csv", "--timeline", "--annotate"}
#: words that run the command after them
WRAPPERS = {"nohup", "time", "exec", "env", "sudo", "command"}
_CONTROL = {"|", "||", "&&", ";", ";;", "&", "|&", "(", ")"}
_REDIRECT = re.compile(r"^(\d*|&)(>>?|<|>&|<&|&>)$")
#: options whose bare-word value is a registered model name (or ``default``)
MODEL_OPTIONS = {"--model", "--init"}
_PLACEHOLDER = re.compile(r"^(?:[A-Z][A-Z0-9_.]*|\.\.\.|…)$")  # `affectlab COMMAND --help`


# ----------------------------------------------------------------------------------- markdown scan

@dataclass(frozen=True)
class Invocation:
    """One simple command of a documented shell line: its words and where it was written."""

    line: int
    argv: tuple[str, ...]
    inline: bool = False

    @property
    def text(self) -> str:
        shown = " ".join(self.argv)
        return shown if len(shown) <= 90 else shown[:87] + "..."


@dataclass
class Page:
    """A Markdown page split into fenced blocks and prose (fenced lines blanked, numbering kept)."""

    name: str
    directory: Path
    blocks: list[tuple[int, str, list[tuple[int, str]]]]
    prose: str

    @classmethod
    def parse(cls, text: str, name: str, directory: Path) -> Page:
        blocks: list[tuple[int, str, list[tuple[int, str]]]] = []
        prose: list[str] = []
        fence: str | None = None
        for number, line in enumerate(text.splitlines(), start=1):
            if fence is None:
                opening = re.match(r"^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)[^`]*$", line)
                if opening:
                    fence = opening.group(1)
                    blocks.append((number, opening.group(2).lower(), []))
                    prose.append("")
                else:
                    prose.append(line)
            else:
                if re.match(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*$", line):
                    fence = None
                else:
                    blocks[-1][2].append((number, line))
                prose.append("")
        return cls(name, directory, blocks, "\n".join(prose))

    def code_spans(self) -> Iterator[tuple[int, str]]:
        """``(line, content)`` of every inline code span of the prose (spans may wrap lines)."""
        for match in re.finditer(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", self.prose, re.DOTALL):
            content = match.group(2)
            if re.search(r"\n[ \t]*\n", content):
                continue
            content = content.replace("\n", " ")
            if content.startswith(" ") and content.endswith(" ") and content.strip():
                content = content[1:-1]
            yield self.prose.count("\n", 0, match.start()) + 1, content

    def links(self) -> Iterator[tuple[int, str]]:
        """``(line, target)`` of every inline Markdown link or image outside code."""
        text = re.sub(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)",
                      lambda m: re.sub(r"[^\n]", " ", m.group(0)), self.prose, flags=re.DOTALL)
        for match in re.finditer(r"!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", text):
            yield text.count("\n", 0, match.start()) + 1, match.group(1)

    def headings(self) -> list[str]:
        return [m.group(1) for m in re.finditer(r"^ {0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$",
                                                self.prose, re.MULTILINE)]


def github_slugs(headings: list[str]) -> set[str]:
    """Anchors GitHub gives these headings: rendered text, lower case, punctuation dropped,
    spaces to ``-``, ``-1``, ``-2`` ... for repeats."""
    seen: dict[str, int] = {}
    slugs = set()
    for heading in headings:
        text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)       # links: their text
        text = re.sub(r"<[^>]+>", "", text).replace("`", "").replace("*", "")
        slug = re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        slugs.add(slug if count == 0 else f"{slug}-{count}")
    return slugs


# ------------------------------------------------------------------------------------- shell lines

def _strip_comment(line: str) -> str:
    """``line`` without its ``# comment`` (a ``#`` starting a word, outside quotes)."""
    quote = None
    escaped = False
    for i, char in enumerate(line):
        if escaped:
            escaped = False
        elif char == "\\" and quote != "'":
            escaped = True
        elif quote:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1] in " \t;|&("):
            return line[:i]
    return line


def logical_lines(block: list[tuple[int, str]], language: str) -> Iterator[tuple[int, str]]:
    """``(first line, text)`` of each command line of a shell block, continuations joined."""
    pending: tuple[int, str] | None = None
    for number, raw in block:
        if pending is not None:
            start, text = pending
            text = text + " " + raw.strip()
        else:
            stripped = raw.strip()
            if language in {"console", "shell-session"} and not stripped.startswith("$ "):
                continue  # output, not a command
            start, text = number, stripped.removeprefix("$ ")
        if text.endswith("\\") and not text.endswith("\\\\"):
            pending = (start, text[:-1].rstrip())
            continue
        pending = None
        yield start, _strip_comment(text).strip()
    if pending is not None:
        yield pending[0], _strip_comment(pending[1]).strip()


def split_commands(text: str) -> list[tuple[str, ...]]:
    """The simple commands of one shell line: split at ``| || && ; &``, redirections dropped.

    Raises ``ValueError`` (from :mod:`shlex`) for unbalanced quotes.
    """
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    commands: list[tuple[str, ...]] = []
    words: list[str] = []
    tokens = list(lexer)
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token in _CONTROL:
            if words:
                commands.append(tuple(words))
            words = []
        elif _REDIRECT.match(token):
            if words and words[-1].isdigit():   # `2>` lexed as `2` `>`
                words.pop()
            i += 1                              # skip the redirection's target
        else:
            words.append(token)
        i += 1
    if words:
        commands.append(tuple(words))
    return commands


def unwrap(argv: tuple[str, ...]) -> tuple[str, ...]:
    """``argv`` without leading ``VAR=value`` assignments and wrappers (``nohup``, ``nice -n 10``)."""
    i = 0
    while i < len(argv):
        word = argv[i]
        if re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", word) or word in WRAPPERS:
            i += 1
        elif word == "nice":
            i += 1
            if i < len(argv) and argv[i] == "-n":
                i += 2
            elif i < len(argv) and re.match(r"^-\d+$", argv[i]):
                i += 1
        elif word == "timeout":
            i += 2
        else:
            break
    return argv[i:]


_INLINE_PROGRAM = re.compile(
    r"^(?:[A-Za-z_][A-Za-z0-9_]*=\S*\s+)*(?:nohup\s+|time\s+|nice\s+(?:-n\s+\d+\s+)?)*"
    r"(?:\S*/)?(?:affectlab|python3?(?:\.\d+)?|make|pytest)\s+\S"
)


def page_invocations(page: Page) -> tuple[list[Invocation], list[str]]:
    """Every simple command of the page's shell blocks and command-like inline spans, and the
    problems met while reading them (unparsable lines)."""
    found: list[Invocation] = []
    problems: list[str] = []
    lines: list[tuple[int, str, bool]] = []
    for _, language, block in page.blocks:
        if language in SHELL_LANGUAGES:
            lines += [(n, text, False) for n, text in logical_lines(block, language)]
    for number, content in page.code_spans():
        candidate = content.strip().removeprefix("$ ")
        if _INLINE_PROGRAM.match(candidate) or re.match(r"^(?:\./)?benchmarks/\S+\.(?:py|sh)\s+-", candidate):
            lines.append((number, candidate, True))
    for number, text, inline in sorted(lines, key=lambda item: item[0]):
        if not text:
            continue
        try:
            commands = split_commands(text)
        except ValueError as exc:
            problems.append(f"{page.name}:{number}: `{text[:90]}`: cannot read this shell line ({exc})")
            continue
        found += [Invocation(number, argv, inline) for argv in commands if argv]
    return found, problems


# ------------------------------------------------------------------------------------------ checks

@cache
def _model_names() -> frozenset[str]:
    from affectlab.models import list_models

    return frozenset([*list_models(), "default"])


@lru_cache(maxsize=1)
def _root_context() -> click.Context:
    from affectlab.cli import cli

    return click.Context(cli, info_name="affectlab", **cli.context_settings)


def check_affectlab(args: tuple[str, ...], *, complete: bool = True) -> list[str]:
    """Problems of ``affectlab ARGS...`` against the click commands (nothing is run).

    Checks the (sub)command names, every option name, the value of every ``click.Choice``
    option, and the number of positional arguments (too few only when ``complete`` or something
    follows the command's name: a span of prose that names a bare command is a mention, not a call).
    """
    ctx = _root_context()
    command: click.Command = ctx.command
    path = ["affectlab"]
    rest = list(args)
    while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
        name = rest.pop(0)
        if _PLACEHOLDER.match(name):        # `affectlab COMMAND --help`: any command
            unknown = [t for t in rest if t.startswith("-") and t not in ctx.help_option_names]
            return [f"{' '.join(path)} {name} {t}: --help/-h is the only option every command has"
                    for t in unknown]
        sub = command.commands.get(name)  # type: ignore[attr-defined]
        if sub is None:
            known = ", ".join(sorted(command.commands))  # type: ignore[attr-defined]
            return [f"no command '{' '.join(path[1:] + [name])}' (commands: {known})"]
        path.append(name)
        ctx = click.Context(sub, info_name=name, parent=ctx)
        command = sub
    params = command.get_params(ctx)
    options = {name: p for p in params if isinstance(p, click.Option) for name in (*p.opts, *p.secondary_opts)}
    where = f"'{' '.join(path)}'"
    problems: list[str] = []
    positionals: list[str] = []
    i = 0
    while i < len(rest):
        token = rest[i]
        i += 1
        if token == "--":
            positionals += rest[i:]
            break
        if token.startswith("--"):
            name, has_value, value = token.partition("=")
        elif re.match(r"^-[A-Za-z]", token):
            name, value = token[:2], token[2:]
            has_value = value
        else:
            positionals.append(token)
            continue
        option = options.get(name)
        if option is None:
            shown = ", ".join(sorted(options, key=lambda o: (o.startswith("--"), o))) or "none"
            problems.append(f"{where} has no option {name} (options: {shown})")
            continue
        takes = 0 if option.is_flag or option.count or name in option.secondary_opts else option.nargs
        values = [value] if has_value else rest[i:i + takes]
        i += 0 if has_value else takes
        if isinstance(option.type, click.Choice):
            choices = [str(c) for c in option.type.choices]
            for value in values:
                if value not in choices and not _PLACEHOLDER.match(value):
                    problems.append(f"{where} {name}: '{value}' is not one of {', '.join(choices)}")
        if name in MODEL_OPTIONS:
            models = _model_names()
            for value in values:
                if re.fullmatch(r"[a-z][a-z0-9_]*", value) and value not in models:
                    problems.append(f"{where} {name}: no model '{value}' (models: {', '.join(sorted(models))})")
    if problems or isinstance(command, click.Group) or any(t in rest for t in (*ctx.help_option_names, "--version")):
        return problems   # (an unknown option's value would count as an argument)
    arguments = [p for p in params if isinstance(p, click.Argument)]
    names = " ".join(a.human_readable_name + ("..." if a.nargs == -1 else "") for a in arguments) or "none"
    most = None if any(a.nargs == -1 for a in arguments) else sum(a.nargs for a in arguments)
    least = sum(max(a.nargs, 1) for a in arguments if a.required)
    if most is not None and len(positionals) > most:
        problems.append(f"{where} takes {most} argument(s) ({names}), got {len(positionals)}: "
                        f"{' '.join(positionals)}")
    elif (complete or rest) and len(positionals) < least:
        problems.append(f"{where} needs {least} argument(s) ({names}), got {len(positionals)}")
    return problems


@cache
def script_options(path: Path) -> frozenset[str] | None:
    """Options a Python script declares with argparse (``add_argument``) or click (``option``),
    read from its source; ``None`` when it declares none (nothing to check)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    uses_argparse = False
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        attr = node.func.attr
        if attr == "ArgumentParser":
            uses_argparse = True
        if attr not in {"add_argument", "option"}:
            continue
        for arg in node.args:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value.startswith("-"):
                names.update(part.strip() for part in arg.value.split("/") if part.strip())
    if uses_argparse:
        names |= {"-h", "--help"}
    return frozenset(names) if names else None


def defined_names(path: Path) -> set[str]:
    """Names a module defines at top level or as class members (``def``, ``class``, assignment,
    import)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    bodies = [tree.body] + [n.body for n in tree.body if isinstance(n, ast.ClassDef)]
    for body in bodies:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Assign):
                names.update(t.id for t in node.targets if isinstance(t, ast.Name))
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names.add(node.target.id)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def make_targets(makefile: Path) -> set[str]:
    """Rule targets of a Makefile (variables and ``.SPECIAL`` targets left out)."""
    targets: set[str] = set()
    for line in makefile.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([^\s:#=$][^:#=]*?)\s*::?(?!=)", line)
        if match:
            targets.update(t for t in match.group(1).split() if not t.startswith(".") and "$" not in t)
    return targets


def _repo_path(word: str) -> str | None:
    """``word`` as a path relative to the repository root if it names one, else ``None``."""
    word = word.strip().rstrip(",.;)").removeprefix("./")
    if not re.match(rf"^(?:{'|'.join(REPO_DIRS)})/", word) or re.search(r"[*?<>{}|$\[\]]", word):
        return None
    return word


def check_path(word: str, repo_root: Path) -> str | None:
    """A problem if ``word`` is a repository path (optionally ``file.py:name``) that is missing."""
    name = None
    match = re.match(r"^(.+\.py):([A-Za-z_][\w.]*)$", word.strip())
    if match:
        word, name = match.groups()
    relative = _repo_path(word)
    candidates = []
    if relative is not None:
        candidates = [repo_root / relative]
    elif re.match(r"^[\w.-]+/[\w./-]*\.py$", word.strip()) and not word.startswith(("runs/", "../", "/")):
        # a module path relative to the package, as the pages write them (`evaluate/protocols.py`)
        candidates = [repo_root / word.strip(), repo_root / "src" / "affectlab" / word.strip()]
    if not candidates:
        return None
    existing = [c for c in candidates if c.exists()]
    if not existing:
        return f"no such file or folder {word.strip()}" + (
            "" if relative is not None else " (looked in the repository root and src/affectlab/)")
    if name is not None and name.split(".")[0] not in defined_names(existing[0]):
        return f"{word.strip()} defines no {name.split('.')[0]}"
    return None


def check_invocation(call: Invocation, repo_root: Path = REPO_ROOT) -> list[str]:
    """Problems of one documented command: unknown (sub)command or option, missing script or
    path, unknown make target."""
    argv = unwrap(call.argv)
    if not argv:
        return []
    problems: list[str] = []
    program = argv[0]
    base = program.rsplit("/", 1)[-1]
    args = argv[1:]
    skip_values: set[int] = set()
    if base == "affectlab":
        problems += check_affectlab(args, complete=not call.inline)
        skip_values = {i + 1 for i, word in enumerate(args) if word.split("=")[0] in OUTPUT_OPTIONS}
        skip_values |= {i for i, word in enumerate(args) if word.split("=")[0] in OUTPUT_OPTIONS and "=" in word}
    elif re.fullmatch(r"python3?(?:\.\d+)?", base):
        i = 0
        while i < len(args) and args[i].startswith("-") and args[i] != "-m":
            i += 1
        if i < len(args) and args[i] == "-m":
            module = args[i + 1] if i + 1 < len(args) else ""
            if module in {"affectlab", "affectlab.cli"}:
                problems += check_affectlab(args[i + 2:], complete=not call.inline)
            elif module == "pytest":
                problems += _check_pytest(args[i + 2:], repo_root)
        elif i < len(args):
            problems += _check_script(args[i], args[i + 1:], repo_root)
            skip_values = {i}
    elif base == "pytest":
        problems += _check_pytest(args, repo_root)
    elif base == "make":
        targets = make_targets(repo_root / "Makefile")
        for word in args:
            if not word.startswith("-") and "=" not in word and word not in targets \
                    and not _PLACEHOLDER.match(word):   # `make TARGET`
                problems.append(f"no make target {word} (Makefile has: {', '.join(sorted(targets))})")
    elif _repo_path(program) is not None:
        problems += _check_script(program, args, repo_root)
    for i, word in enumerate(args):
        if i in skip_values:
            continue
        word = word.split("=", 1)[-1] if word.startswith("-") else word
        word = word.split("::", 1)[0]  # pytest node ids
        problem = check_path(word, repo_root) if _repo_path(word) is not None else None
        if problem:
            problems.append(problem)
    return problems


def _check_pytest(args: tuple[str, ...], repo_root: Path) -> list[str]:
    """``pytest FILE.py -k WORD``: some test (function or class) of the files has WORD in its name."""
    files = [repo_root / rel for rel in map(_repo_path, args) if rel and rel.endswith(".py")]
    files = [f for f in files if f.is_file()]
    words = [args[i + 1] for i, word in enumerate(args[:-1]) if word == "-k"]
    problems = []
    for word in words:
        if not files or not re.fullmatch(r"\w+", word):
            continue   # an expression, or nothing to look in
        names = {node.name for f in files for node in ast.walk(ast.parse(f.read_text(encoding="utf-8")))
                 if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                 and node.name.startswith(("test", "Test"))}
        if not any(word.lower() in name.lower() for name in names):
            problems.append(f"-k {word}: no test of {', '.join(str(f.relative_to(repo_root)) for f in files)} "
                            f"has {word} in its name")
    return problems


def _check_script(script: str, args: tuple[str, ...], repo_root: Path) -> list[str]:
    relative = _repo_path(script)
    if relative is None:
        return []
    path = repo_root / relative
    if not path.is_file():
        return [f"no such script {script}"]
    if path.suffix != ".py":
        return []
    options = script_options(path)
    if options is None:
        return []
    problems = []
    for word in args:
        if word == "--":
            break
        if word.startswith("--") or re.match(r"^-[A-Za-z]", word):
            name = word.split("=", 1)[0] if word.startswith("--") else word[:2]
            if name not in options:
                problems.append(f"{script} has no option {name} (options: {', '.join(sorted(options))})")
    return problems


def check_links(page: Page, repo_root: Path = REPO_ROOT) -> list[str]:
    """Problems of the page's relative links: missing file, or missing heading for ``#anchor``."""
    problems = []
    for number, target in page.links():
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target):   # http:, https:, mailto:
            continue
        path_part, _, anchor = target.partition("#")
        path = (page.directory / path_part).resolve() if path_part else None
        if path is not None and not any(path.is_relative_to(root.resolve())
                                        for root in (repo_root, page.directory)):
            continue   # outside the repository (e.g. ../shared/datasets): not ours to check
        if path is not None and not path.exists():
            problems.append(f"{page.name}:{number}: link ({target}): no such file {path_part}")
            continue
        if anchor and (path is None or path.suffix == ".md"):
            if path is None:
                headings = page.headings()
            else:
                headings = Page.parse(path.read_text(encoding="utf-8"), path.name, path.parent).headings()
            slugs = github_slugs(headings)
            if anchor not in slugs:
                near = sorted(s for s in slugs if s[:4] == anchor[:4]) or sorted(slugs)[:8]
                problems.append(f"{page.name}:{number}: link ({target}): no heading #{anchor} in "
                                f"{path_part or page.name} (anchors: {', '.join(near)})")
    return problems


@lru_cache(maxsize=1)
def command_options() -> dict[str, dict[str, click.Option]]:
    """``{"analyze": {"--model": option, ...}, "data info": {...}, ...}`` for every leaf command."""
    found: dict[str, dict[str, click.Option]] = {}

    def walk(command: click.Command, ctx: click.Context, path: list[str]) -> None:
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(sub, click.Context(sub, info_name=name, parent=ctx), [*path, name])
            return
        found[" ".join(path)] = {name: p for p in command.get_params(ctx) if isinstance(p, click.Option)
                                 for name in (*p.opts, *p.secondary_opts)}

    root = _root_context()
    walk(root.command, root, [])
    return found


def known_options(repo_root: Path = REPO_ROOT) -> set[str]:
    """Every option of every ``affectlab`` command and every benchmark script."""
    names = {name for options in command_options().values() for name in options}
    for script in sorted((repo_root / "benchmarks").rglob("*.py")):
        names |= script_options(script) or set()
    return names


def _commands_named(heading: str) -> list[str]:
    """The leaf commands a heading names (``## `affectlab cache info`, ...``; a group: all of it)."""
    commands = command_options()
    named: list[str] = []
    for first, second in re.findall(r"affectlab ([a-z][\w-]*)(?: ([a-z][\w-]*))?", heading):
        if f"{first} {second}" in commands:
            named.append(f"{first} {second}")
        elif first in commands:
            named.append(first)
        else:
            named += [c for c in commands if c.startswith(first + " ")]
    return named


_OPTION_SPAN = re.compile(r"^(-{1,2}[A-Za-z][\w-]*(?:/-{1,2}[A-Za-z][\w-]*)*)(?:[ =](.*))?$")


def _leaf_command(argv: tuple[str, ...]) -> str | None:
    """The leaf command an ``affectlab ...`` argv runs (``"data info"``), if it names one."""
    argv = unwrap(argv)
    if not argv or argv[0].rsplit("/", 1)[-1] != "affectlab":
        return None
    commands = command_options()
    words = [w for w in argv[1:3] if not w.startswith("-")]
    for size in (2, 1):
        if len(words) >= size and " ".join(words[:size]) in commands:
            return " ".join(words[:size])
    return None


def _script_of(argv: tuple[str, ...], repo_root: Path) -> Path | None:
    """The repository ``.py`` script a ``python X.py ...`` (or ``X.py ...``) argv runs."""
    argv = unwrap(argv)
    words = [w for w in argv if not w.startswith("-")]
    for word in words[:2]:
        relative = _repo_path(word)
        if relative and relative.endswith(".py") and (repo_root / relative).is_file():
            return repo_root / relative
    return None


def check_option_spans(page: Page, calls: list[Invocation], repo_root: Path = REPO_ROOT) -> list[str]:
    """Problems of inline spans that show an option alone (```--max-faces N```, ```-o/--output```).

    A span belongs to its section (heading to next heading). When the section's heading names
    ``affectlab`` commands or the section runs commands or repo scripts, the option must be one of
    theirs, and ``a|b|c`` values of a click choice option must be its choices; in a section with
    no command it must be an option of some ``affectlab`` command or benchmark script.
    """
    heading_lines = [(page.prose.count("\n", 0, m.start()) + 1, m.group(1))
                     for m in re.finditer(r"^ {0,3}#{1,6}[ \t]+(.*)$", page.prose, re.MULTILINE)]
    everything = known_options(repo_root)
    problems = []
    for number, content in page.code_spans():
        match = _OPTION_SPAN.match(content.strip())
        if not match:
            continue
        names, value = match.group(1).split("/"), match.group(2)
        before = [(line, text) for line, text in heading_lines if line < number]
        start, heading = before[-1] if before else (0, "")
        end = next((line for line, _ in heading_lines if line > number), 10**9)
        in_section = [c for c in calls if start < c.line < end]
        commands = list(dict.fromkeys(_commands_named(heading)
                                      + [c for c in map(_leaf_command, (c.argv for c in in_section)) if c]))
        scripts = list(dict.fromkeys(s for s in (_script_of(c.argv, repo_root) for c in in_section) if s))
        allowed: dict[str, click.Option | None] = {}
        for command in commands:
            allowed.update(command_options()[command])
        for script in scripts:
            allowed.update(dict.fromkeys(script_options(script) or ()))
        scope = [f"'affectlab {c}'" for c in commands] + [str(s.relative_to(repo_root)) for s in scripts]
        for name in names:
            if scope and name not in allowed:
                shown = ", ".join(sorted(allowed, key=lambda o: (o.startswith("--"), o)))
                problems.append(f"{page.name}:{number}: `{content}`: no option {name} in this section's "
                                f"{' / '.join(scope)} (options: {shown})")
            elif not scope and name not in everything:
                close = difflib.get_close_matches(name, sorted(everything), n=3)
                problems.append(f"{page.name}:{number}: `{content}`: no affectlab command or benchmark "
                                f"script has an option {name}" + (f" (close: {', '.join(close)})" if close else ""))
        option = allowed.get(names[0])
        if option is not None and value and "|" in value and isinstance(option.type, click.Choice):
            choices = [str(c) for c in option.type.choices]
            wrong = [v for v in value.split("|") if v not in choices]
            if wrong:
                problems.append(f"{page.name}:{number}: `{content}`: {names[0]} has no choice "
                                f"{', '.join(wrong)} (choices: {', '.join(choices)})")
    return problems


_DOTTED = re.compile(r"(?<![\w./-])(affectlab(?:\.[A-Za-z_]\w*)+)(?::([A-Za-z_]\w*))?")


def resolve_name(dotted: str) -> object:
    """The object ``affectlab.a.b`` or ``affectlab.a:b`` names (modules imported as needed);
    ``LookupError`` naming the missing part."""
    import importlib

    parts = dotted.replace(":", ".").split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError as exc:
            if exc.name and not ".".join(parts[:cut]).startswith(exc.name):
                raise   # a dependency is missing, not the documented module
            continue
        for i, part in enumerate(parts[cut:], start=cut):
            if not hasattr(obj, part):
                raise LookupError(f"{'.'.join(parts[:i])} has no attribute {part}")
            obj = getattr(obj, part)
        return obj
    raise LookupError(f"no module {parts[0]}")


def _balanced(text: str, start: int) -> str | None:
    """The text between ``text[start] == "("`` and its closing parenthesis."""
    depth = 0
    for i in range(start, len(text)):
        depth += {"(": 1, ")": -1, "[": 1, "]": -1, "{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[start + 1:i]
    return None


def _top_level_split(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        depth += {"(": 1, ")": -1, "[": 1, "]": -1, "{": 1, "}": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [p.strip() for p in [*parts, current] if p.strip()]


def check_signature(obj: object, shown: str) -> list[str]:
    """Problems of a documented call signature ``shown`` (``a, b, *, c=1``) against ``obj``:
    parameters it does not have, literal defaults that differ."""
    import inspect

    try:
        signature = inspect.signature(obj)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return []
    params = signature.parameters
    takes_kwargs = any(p.kind is p.VAR_KEYWORD for p in params.values())
    problems = []
    pieces = _top_level_split(shown)
    if not any(piece in {"...", "…"} for piece in pieces):   # a complete signature: nothing left out
        written = {re.sub(r"[\s=].*", "", piece).lstrip("*") for piece in pieces}
        left_out = [name for name, p in params.items()
                    if name not in written and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        if left_out:
            problems.append(f"leaves out parameter(s) {', '.join(left_out)} (end the list with ... if on purpose)")
    for piece in pieces:
        match = re.match(r"^(\*{0,2})([A-Za-z_]\w*)\s*(?:=\s*(.+))?$", piece)
        if not match or match.group(1):
            continue   # `*`, `...`, `*args`, `**kwargs`
        name, default = match.group(2), match.group(3)
        if name not in params:
            if not takes_kwargs:
                problems.append(f"no parameter {name} (parameters: {', '.join(params)})")
            continue
        if default is None or params[name].default is inspect.Parameter.empty:
            continue
        try:
            value = ast.literal_eval(default)
        except (ValueError, SyntaxError):
            continue
        if value != params[name].default:
            problems.append(f"{name} defaults to {params[name].default!r}, not {default}")
    return problems


def check_python_names(page: Page) -> list[str]:
    """Problems of ``affectlab.x.y`` / ``affectlab.x:y`` names in inline spans (the object must
    exist) and of signatures shown as ``affectlab.x.f(a, b=1)`` (parameters and literal defaults)."""
    problems = []
    for number, content in page.code_spans():
        for match in _DOTTED.finditer(content):
            try:
                obj = resolve_name(match.group(0))
            except LookupError as exc:
                problems.append(f"{page.name}:{number}: `{content[:90]}`: {match.group(0)}: {exc}")
                continue
            if match.end() < len(content) and content[match.end()] == "(" and callable(obj):
                shown = _balanced(content, match.end())
                if shown:
                    problems += [f"{page.name}:{number}: `{match.group(0)}(...)`: {p}"
                                 for p in check_signature(obj, shown)]
    return problems


def check_page(text: str, name: str, directory: Path, repo_root: Path = REPO_ROOT) -> list[str]:
    """Every problem of one Markdown page, one line each, ``NAME:LINE: `command`: problem``."""
    page = Page.parse(text, name, directory)
    calls, problems = page_invocations(page)
    for call in calls:
        problems += [f"{name}:{call.line}: `{call.text}`: {p}" for p in check_invocation(call, repo_root)]
    for number, content in page.code_spans():
        if " " in content.strip():
            continue   # a lone path (commands were checked word by word above)
        problem = check_path(content, repo_root)
        if problem:
            problems.append(f"{name}:{number}: `{content}`: {problem}")
    problems += check_option_spans(page, calls, repo_root)
    problems += check_python_names(page)
    problems += check_links(page, repo_root)
    return sorted(problems, key=lambda p: int(p.split(":", 2)[1]))


def check_file(path: Path) -> list[str]:
    """The problems of one page of the repository."""
    return check_page(path.read_text(encoding="utf-8"), str(path.relative_to(REPO_ROOT)), path.parent)
