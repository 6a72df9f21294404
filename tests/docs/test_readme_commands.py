"""README.md and docs/**/*.md against the code: commands, options, paths, links, anchors and signatures.

The checker is :mod:`tests.docs.doc_checker` (what it checks is listed there); these tests run it
on the real pages, and on small broken pages that must each fail in the expected way.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.docs.doc_checker import (
    PAGES,
    REPO_ROOT,
    Page,
    check_file,
    check_page,
    command_options,
    github_slugs,
    logical_lines,
    page_invocations,
    split_commands,
    unwrap,
)

# ------------------------------------------------------------------------------- the real pages

@pytest.mark.parametrize("path", PAGES, ids=[str(p.relative_to(REPO_ROOT)) for p in PAGES])
def test_page_commands_paths_and_links(path: Path) -> None:
    problems = check_file(path)
    assert not problems, f"{len(problems)} stale spot(s):\n" + "\n".join(problems)


def test_the_check_sees_the_documented_commands() -> None:
    """The readers find the commands the pages show (a parser that finds nothing passes everything)."""
    readme = Page.parse((REPO_ROOT / "README.md").read_text(encoding="utf-8"), "README.md", REPO_ROOT)
    calls, _ = page_invocations(readme)
    programs = [unwrap(c.argv)[0] for c in calls]
    results_path = REPO_ROOT / "docs" / "results.md"   # the research log the README's results table links into
    results_calls, _ = page_invocations(Page.parse(results_path.read_text(encoding="utf-8"), "results.md",
                                                   results_path.parent))
    results_programs = [unwrap(c.argv)[0] for c in results_calls]
    assert programs.count("affectlab") >= 20
    assert programs.count("affectlab") + results_programs.count("affectlab") >= 40
    assert any(c.inline and c.argv[:2] == ("affectlab", "evaluate") for c in calls)   # results table
    assert any(c.argv[0] == "python" and c.argv[1].startswith("benchmarks/") for c in calls)
    assert any(c.argv[:2] == ("python", "benchmarks/train_fer2013.py") for c in results_calls)
    assert {("make", "demo"), ("make", "test"), ("make", "install")} <= {c.argv[:2] for c in calls}
    every = [c for p in PAGES[1:] for c in page_invocations(Page.parse(p.read_text(encoding="utf-8"),
                                                                         p.name, p.parent))[0]]
    from affectlab.cli import cli

    used = {c.argv[1] for c in every if c.argv[0] == "affectlab" and len(c.argv) > 1}
    assert set(cli.commands) <= used, f"docs never run: {set(cli.commands) - used}"


def test_every_option_is_documented() -> None:
    """Each long option of each command appears in ``docs/cli.md`` (``batch`` / ``serve``: or in
    ``docs/service.md``), so a new option cannot stay undocumented."""
    cli_page = (REPO_ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    service_page = (REPO_ROOT / "docs" / "service.md").read_text(encoding="utf-8")
    missing = []
    for command, options in command_options().items():
        text = cli_page + (service_page if command in {"batch", "serve"} else "")
        missing += [f"affectlab {command} {name}" for name in sorted(options)
                    if name.startswith("--") and name != "--help"
                    and not re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text)]
    assert not missing, "options in no page: " + ", ".join(missing)


# ------------------------------------------------------------------------ the checker on tmp pages

def _problems(tmp_path: Path, markdown: str) -> list[str]:
    page = tmp_path / "README.md"
    page.write_text(markdown, encoding="utf-8")
    return check_page(markdown, "README.md", tmp_path)


def _assert_each_found_once(problems: list[str], expected: list[tuple[str, str]]) -> None:
    """Exactly the expected problems: one per (line prefix, text) pair, nothing else."""
    assert len(problems) == len(expected), "\n".join(problems)
    for where, what in expected:
        matching = [p for p in problems if p.startswith(where) and what in p]
        assert len(matching) == 1, (where, what, problems)


def test_an_unknown_option_fails(tmp_path: Path) -> None:
    problems = _problems(tmp_path, "# T\n\n```bash\naffectlab analyze photo.jpg \\\n    --no-such-option\n```\n")
    assert len(problems) == 1
    assert problems[0].startswith("README.md:4: `affectlab analyze photo.jpg --no-such-option`: "
                                  "'affectlab analyze' has no option --no-such-option (options: ")
    assert "--max-faces" in problems[0] and "--no-progress" in problems[0]


def test_unknown_commands_subcommands_and_short_options_fail(tmp_path: Path) -> None:
    markdown = (
        "```sh\n"
        "affectlab analyse photo.jpg                  # renamed command\n"
        "affectlab cache purge --yes && affectlab data info x -q\n"
        "affectlab analyze photo.jpg --model mini_exception\n"
        "```\n"
        "| a | `affectlab report runs/a --sort uar --colour red` |\n"
    )
    problems = _problems(tmp_path, markdown)
    assert [p.split(": ", 1)[0] for p in problems] == ["README.md:2", "README.md:3", "README.md:3", "README.md:4",
                                                         "README.md:6"]
    assert "no command 'analyse' (commands: analyze," in problems[0]
    assert "no command 'cache purge' (commands: " in problems[1] and "prune" in problems[1]
    assert "'affectlab data info' has no option -q" in problems[2]
    assert "'affectlab analyze' --model: no model 'mini_exception' (models: " in problems[3]
    assert "mini_xception" in problems[3]
    assert "'affectlab report' has no option --colour" in problems[4]


MUTATIONS = [
    # (text in README.md, or in another page after "PAGE::", replacement, expected problem)
    ("affectlab analyze speech.wav ", "affectlab analyze speech.wav --no-such-option ",
     "'affectlab analyze' has no option --no-such-option (options: "),
    ("affectlab experiment configs/ckplus48-baseline.yaml --out runs/ck-baseline\n",
     "affectlab experiment configs/ckplus48-base.yaml --out runs/ck-baseline\n",
     "no such file or folder configs/ckplus48-base.yaml"),
    ("affectlab cache info ", "affectlab cache show ", "no command 'cache show' (commands: "),
    ("make demo   #", "make demos   #", "no make target demos (Makefile has: "),
    ("[docs/index.md](docs/index.md)", "[docs/index.md](docs/indexx.md)", "no such file docs/indexx.md"),
    ("docs/results.md::--epochs 30 --batch-size 128", "--epochs 30 --batch 128",
     "benchmarks/train_fer2013.py has no option --batch (options: "),
    ("video_speed.py --seconds 10 --json", "video_speed.py --second 10 --json",
     "benchmarks/video_speed.py has no option --second (options: "),
    ("affectlab report runs/ck-hand runs/ck-deep --sort uar ", "affectlab report --sort uar ",
     "'affectlab report' needs 1 argument(s) (RUNS...), got 0"),
]


@pytest.mark.parametrize("old,new,expected", MUTATIONS, ids=[m[1].strip()[:40] for m in MUTATIONS])
def test_a_broken_copy_of_the_readme_fails(tmp_path: Path, old: str, new: str, expected: str) -> None:
    """The real README (or docs page) with one stale spot put in, written to a tmp file: exactly that spot fails."""
    name, old = old.split("::", 1) if "::" in old else ("README.md", old)
    source = REPO_ROOT / name
    text = source.read_text(encoding="utf-8")
    if old not in text:   # the page changed: the mutation must still hit a real line
        pytest.fail(f"{name} no longer contains {old!r}: update MUTATIONS")
    line = text.count("\n", 0, text.index(old) + len(old.split("\n")[0]) - 1) + 1
    broken = tmp_path / source.name
    broken.write_text(text.replace(old, new, 1), encoding="utf-8")
    problems = check_page(broken.read_text(encoding="utf-8"), name, source.parent)
    assert len(problems) == 1, "\n".join(problems)
    assert problems[0].startswith(f"{name}:{line}: ") and expected in problems[0], problems[0]


def test_valid_shell_forms_pass(tmp_path: Path) -> None:
    """Continuations, comments, pipes, ``&&``, ``;``, prompts, ``--opt=value``, ``--no-flag``,
    short options, env assignments, redirections, ``$`` prompts and output lines of console blocks."""
    (tmp_path / "other.md").write_text("# Other page\n\n## `kind: deep` (and more)\n", encoding="utf-8")
    markdown = (
        "# Title\n\nSee [other](other.md#kind-deep-and-more), [here](#title) and [web](https://x.org/a#b).\n\n"
        "```bash\n"
        "$ affectlab experiment configs/ckplus48-baseline.yaml -o runs/x --jobs=2 \\\n"
        "    --no-cache --no-progress   # comment with --bogus\n"
        "AFFECTLAB_CACHE_DIR=/tmp/c nice -n 10 affectlab cache info --json | jq . > info.json 2>&1\n"
        "affectlab data info /no/such; echo $? && affectlab --version\n"
        "affectlab analyze -h\n"
        "python benchmarks/train_fer2013.py --model mini_xception --batch-size=128 --out runs/mx\n"
        "make demo\n"
        ".venv/bin/python -m pytest -q tests/analysis/test_bundled_model.py -k ckplus\n"
        "```\n\n"
        "```console\n$ affectlab serve --port 8080\nINFO: --this-is-output\n```\n\n"
        "Inline: `affectlab COMMAND --help`, `affectlab compare RUN A B --json`, `make test`,\n"
        "`src/affectlab/experiments/kinds.py`, `evaluate/protocols.py:check_disjoint_groups`, `runs/none/x.md`.\n"
    )
    assert _problems(tmp_path, markdown) == []


def test_missing_paths_links_scripts_and_targets_fail(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# A heading\n", encoding="utf-8")
    markdown = (
        "# Title\n\n"
        "Run `affectlab experiment configs/no-such.yaml --out runs/x` or `make no-such-target`.\n"
        "Read [the page](docs/missing.md), [a section](#no-such-heading) and `tests/no/such_test.py`;\n"
        "[that](other.md#gone).\n"
        "`evaluate/protocols.py:no_such_function` and `evaluate/moved_away.py`.\n\n"
        "```bash\n"
        "python benchmarks/train_fer2013.py --epochs 3 --no-such-flag --out runs/y\n"
        "python benchmarks/no_such_script.py --json\n"
        "pytest tests/analysis/test_bundled_model.py -k no_such_case\n"
        "```\n"
    )
    problems = _problems(tmp_path, markdown)
    expected = [
        ("README.md:3:", "no such file or folder configs/no-such.yaml"),
        ("README.md:3:", "no make target no-such-target (Makefile has: "),
        ("README.md:4:", "`tests/no/such_test.py`: no such file or folder tests/no/such_test.py"),
        ("README.md:6:", "evaluate/protocols.py defines no no_such_function"),
        ("README.md:6:", "no such file or folder evaluate/moved_away.py"),
        ("README.md:9:", "benchmarks/train_fer2013.py has no option --no-such-flag (options: "),
        ("README.md:10:", "no such script benchmarks/no_such_script.py"),
        ("README.md:11:", "-k no_such_case: no test of tests/analysis/test_bundled_model.py has no_such_case"),
        ("README.md:5:", "link (other.md#gone): no heading #gone in other.md (anchors: a-heading)"),
        ("README.md:4:", "link (docs/missing.md): no such file docs/missing.md"),
        ("README.md:4:", "link (#no-such-heading): no heading #no-such-heading in README.md"),
    ]
    _assert_each_found_once(problems, expected)


def test_option_spans_and_python_names_are_checked(tmp_path: Path) -> None:
    markdown = (
        "## `affectlab analyze`\n\n"
        "Options: `--max-faces N`, `-o/--output FILE`, `--device auto|cpu|cuda`, `--max-face N`.\n\n"
        "## `affectlab report`\n\n`--format md|csv|xml`, `--sort METRIC`.\n\n"
        "## Elsewhere\n\n`--jobs 2`, `--no-such-anywhere`.\n\n"
        "Call `affectlab.experiments.run_experiment(config, out_dir, *, data=None, jobs=2)` or\n"
        "`affectlab.batch.run_batch(source, out, *, workers=2, chunk_size=32, ...)`; see\n"
        "`affectlab.evaluate.no_such_function` and `affectlab.cli:main`.\n"
    )
    problems = _problems(tmp_path, markdown)
    expected = [
        ("README.md:3:", "`--max-face N`: no option --max-face in this section's 'affectlab analyze' (options: "),
        ("README.md:7:", "`--format md|csv|xml`: --format has no choice xml (choices: md, csv, json)"),
        ("README.md:11:", "`--no-such-anywhere`: no affectlab command or benchmark script has an option"),
        ("README.md:13:", "`affectlab.experiments.run_experiment(...)`: no parameter jobs (parameters: config,"),
        ("README.md:13:", "`affectlab.experiments.run_experiment(...)`: leaves out parameter(s) dataset, progress,"),
        ("README.md:14:", "`affectlab.batch.run_batch(...)`: workers defaults to 1, not 2"),
        ("README.md:15:", "affectlab.evaluate has no attribute no_such_function"),
    ]
    _assert_each_found_once(problems, expected)


def test_github_slug_rule() -> None:
    headings = ["`kind: features` (default)", "5. Differences come with their uncertainty",
                "Datasets: `Sample`, `Dataset`, `load_dataset`", "Usage", "Usage", "**Bold** [link](x.md) — ok?"]
    assert github_slugs(headings) == {"kind-features-default", "5-differences-come-with-their-uncertainty",
                                      "datasets-sample-dataset-load_dataset", "usage", "usage-1",
                                      "bold-link--ok"}


def test_shell_line_splitting() -> None:
    block = [(10, "affectlab a \\"), (11, "   --b 1   # note"), (12, "x | affectlab c 2>/dev/null; make d")]
    lines = list(logical_lines(block, "bash"))
    assert lines == [(10, "affectlab a --b 1"), (12, "x | affectlab c 2>/dev/null; make d")]
    assert split_commands(lines[1][1]) == [("x",), ("affectlab", "c"), ("make", "d")]
    assert split_commands("A=1 affectlab x 'a # b' > out.txt") == [("A=1", "affectlab", "x", "a # b")]
    assert unwrap(("A=1", "nohup", "nice", "-n", "10", "affectlab", "x")) == ("affectlab", "x")
    console = [(1, "$ affectlab a"), (2, "output --x"), (3, "$ make b")]
    assert [t for _, t in logical_lines(console, "console")] == ["affectlab a", "make b"]
