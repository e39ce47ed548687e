"""The documentation says only what exists: README.md, docs/*.md and benchmarks/README.md.

Fast, offline, no torch: every relative link and #anchor resolves (anchors as GitHub makes them), every
`make TARGET` is a Makefile target, every `faceattr SUBCOMMAND --option` exists in the CLI's parser, every
params.yaml key named exists, figures quoted outside benchmarks/README.md are the ones it holds, and no page
names a path of one machine.
"""

from __future__ import annotations

import argparse
import difflib
import re
import shlex
import unicodedata
from functools import cache
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks" / "README.md"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]  # the pages people read first
LINKED = [*DOCS, BENCHMARKS]  # pages whose links and anchors must resolve

# Code blocks whose lines are commands; other fences (text, output, untagged diagrams and trees) are not read.
COMMAND_LANGS = {"bash", "sh", "shell", "console"}
TOP_GROUPS = ("data", "synth", "unzip", "labels", "partition", "model", "train", "evaluate", "explain")
FILE_SUFFIXES = {"pt", "pth", "onnx", "json", "yaml", "yml", "csv", "png", "txt", "md", "py", "zip", "npy", "lock"}
PLACEHOLDERS = {"key", "name"}  # `-S key=value` in prose stands for any key
SEPARATORS = {"&&", "||", ";", "|", "(", ")"}


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


# ---- reading Markdown -----------------------------------------------------------------------------------------


class Page:
    """A Markdown file split into prose lines (outside fences) and fenced code blocks."""

    def __init__(self, path: Path):
        self.path = path
        self.prose: list[tuple[int, str]] = []
        self.blocks: list[tuple[int, str, list[str]]] = []  # (first line, language, lines)
        fence = None
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            match = re.match(r"^\s*(`{3,}|~{3,})\s*([\w+-]*)", line)
            if fence is None and match:
                fence = match.group(1)
                self.blocks.append((number, match.group(2).lower(), []))
            elif fence is not None and line.strip().startswith(fence) and not line.strip()[len(fence) :].strip():
                fence = None
            elif fence is not None:
                self.blocks[-1][2].append(line)
            else:
                self.prose.append((number, line))
        assert fence is None, f"{rel(path)}: a code fence is never closed"

    def spans(self) -> list[tuple[int, str]]:
        """Inline code spans of the prose."""
        found = []
        for number, line in self.prose:
            for match in re.finditer(r"(`+)(.+?)\1", line):
                found.append((number, match.group(2).strip()))
        return found

    def command_lines(self) -> list[tuple[int, str]]:
        """Shell command lines: those of bash/sh/console blocks (continuations joined, comments cut) and the
        inline code spans that start with a command."""
        lines = []
        for first, lang, block in self.blocks:
            if lang not in COMMAND_LANGS:
                continue
            pending, start = "", first
            for offset, line in enumerate(block, 1):
                if lang == "console":
                    if not line.startswith("$ ") and not pending:
                        continue  # output
                    line = line[2:] if line.startswith("$ ") else line
                if not pending:
                    start = first + offset
                if line.rstrip().endswith("\\"):
                    pending += line.rstrip()[:-1] + " "
                    continue
                lines.append((start, strip_comment(pending + line)))
                pending = ""
        for number, span in self.spans():
            lines.append((number, strip_comment(span)))
        return [(n, line) for n, line in lines if line.strip()]


def strip_comment(line: str) -> str:
    if line.lstrip().startswith("#"):
        return ""
    return re.split(r"\s#\s|\s#$", line, maxsplit=1)[0]


def tokens(line: str) -> list[str]:
    try:
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|()")
        lexer.whitespace_split = True
        return list(lexer)
    except ValueError:  # an unbalanced quote: a fragment, not a whole command
        return line.split()


def commands(line: str) -> list[list[str]]:
    """The simple commands of a command line, split at ; && || | ( )."""
    result, current = [], []
    for token in tokens(line):
        if token in SEPARATORS or set(token) <= set(";&|()"):
            if current:
                result.append(current)
            current = []
        else:
            current.append(token)
    if current:
        result.append(current)
    return result


@cache
def page(path: Path) -> Page:
    return Page(path)


# ---- GitHub's heading anchors ---------------------------------------------------------------------------------


def heading_text(markdown: str) -> str:
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", markdown)  # links and images: their text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = text.replace("`", "")
    text = re.sub(r"\*+", "", text)
    return text.strip()


def slug(text: str) -> str:
    """GitHub's anchor for a heading: lowercase; letters, digits, '_', '-' and spaces kept; spaces become '-'."""
    kept = []
    for char in heading_text(text).lower():
        category = unicodedata.category(char)
        if char in " -" or category[0] in "LMN" or category == "Pc":
            kept.append(char)
    return "".join(kept).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    result = set()
    for _, line in page(path).prose:
        match = re.match(r"^#{1,6}\s+(.+?)\s*#*\s*$", line)
        if not match:
            continue
        base = slug(match.group(1))
        count = seen.get(base, 0)
        seen[base] = count + 1
        result.add(base if count == 0 else f"{base}-{count}")
    return result


def test_slug_is_githubs():
    assert slug("The `faceattr` command") == "the-faceattr-command"
    assert slug("Quality from ImageNet weights, 40 attributes, identity split (issue 18)") == (
        "quality-from-imagenet-weights-40-attributes-identity-split-issue-18"
    )
    assert slug("`faceattr serve` latency (`benchmarks/serve_latency.py`, part of `make bench`)") == (
        "faceattr-serve-latency-benchmarksserve_latencypy-part-of-make-bench"
    )
    assert slug("Speed — and scale: 200,000 images × 40") == "speed--and-scale-200000-images--40"


# ---- (1) links and anchors ------------------------------------------------------------------------------------


def links(path: Path) -> list[tuple[int, str]]:
    found = []
    for number, line in page(path).prose:
        line = re.sub(r"(`+).+?\1", "", line)  # not inside inline code
        for match in re.finditer(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", line):
            found.append((number, match.group(1)))
        for match in re.finditer(r"^\s*\[[^\]]+\]:\s+(\S+)", line):  # reference definitions
            found.append((number, match.group(1)))
    return found


@pytest.mark.parametrize("path", LINKED, ids=rel)
def test_links_resolve(path: Path):
    problems = []
    for number, target in links(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...
            continue
        file_part, _, anchor = target.partition("#")
        destination = (path.parent / file_part).resolve() if file_part else path
        if not destination.exists():
            problems.append(f"{rel(path)}:{number}: {target}: no such file")
            continue
        if anchor:
            if destination.suffix != ".md" or not destination.is_file():
                problems.append(f"{rel(path)}:{number}: {target}: an anchor into a file that is not Markdown")
            elif anchor not in anchors(destination):
                close = difflib.get_close_matches(anchor, anchors(destination), n=1)
                problems.append(
                    f"{rel(path)}:{number}: {target}: no heading #{anchor} in {rel(destination)}"
                    + (f" (did you mean #{close[0]}?)" if close else "")
                )
    assert not problems, "\n".join(problems)


def test_docs_pages_are_indexed():
    """Every docs/ page is linked from README.md."""
    readme_targets = {(ROOT / t.partition("#")[0]).resolve() for _, t in links(ROOT / "README.md")}
    missing = [rel(p) for p in DOCS[1:] if p.resolve() not in readme_targets]
    assert not missing, f"docs pages README.md does not link: {missing}"


# ---- (2) make targets -----------------------------------------------------------------------------------------


@cache
def make_targets() -> set[str]:
    targets = set()
    for line in (ROOT / "Makefile").read_text().splitlines():
        if line.startswith(".PHONY:"):
            targets.update(line.split(":", 1)[1].split())
        match = re.match(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", line)
        if match and not match.group(1).startswith("."):
            targets.add(match.group(1))
    return targets


def named(path: Path, program: str) -> list[tuple[int, list[str]]]:
    """(line, arguments) for every simple command of `program` in the page's command lines."""
    found = []
    for number, line in page(path).command_lines():
        for command in commands(line):
            words = [w for w in command if not re.match(r"^[A-Z_][A-Z0-9_]*=", w)]  # VAR=value prefixes
            for i, word in enumerate(words[:3]):
                if word in {"nice", "time", "sudo", "env"} or word.startswith("-") and i:
                    continue
                if word == program or word.endswith("/" + program):
                    found.append((number, words[i + 1 :]))
                break
            if program == "faceattr" and words[:3] in (["python", "-m", "faceattr.cli.entry"],):
                found.append((number, words[3:]))
    return found


@pytest.mark.parametrize("path", DOCS, ids=rel)
def test_make_targets_exist(path: Path):
    problems = []
    for number, args in named(path, "make"):
        goals = [a for a in args if not a.startswith("-") and "=" not in a]
        for goal in goals:
            if goal not in make_targets():
                problems.append(f"{rel(path)}:{number}: make {goal}: no such target in the Makefile")
    assert not problems, "\n".join(problems)


# ---- (3) faceattr subcommands and options ---------------------------------------------------------------------


@cache
def cli() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    from faceattr.cli.entry import build_parser

    parser = build_parser()
    subparsers = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            subparsers.update(action.choices)
    return parser, subparsers


@pytest.mark.parametrize("path", DOCS, ids=rel)
def test_faceattr_commands_exist(path: Path):
    parser, subparsers = cli()
    problems = []
    for number, args in named(path, "faceattr"):
        if not args:
            continue
        sub = args[0]
        if sub.isupper():  # a placeholder: faceattr COMMAND --help
            continue
        if sub.startswith("-"):
            options, known = args, parser._option_string_actions
            sub = ""
        elif sub not in subparsers:
            problems.append(f"{rel(path)}:{number}: faceattr {sub}: no such subcommand ({', '.join(subparsers)})")
            continue
        else:
            options, known = args[1:], subparsers[sub]._option_string_actions
        for option in options:
            if not re.match(r"^--?[A-Za-z]", option):
                continue
            name = option.split("=", 1)[0]
            if name not in known:
                problems.append(f"{rel(path)}:{number}: faceattr {sub} {name}: no such option")
    assert not problems, "\n".join(problems)


# ---- (4) params.yaml keys -------------------------------------------------------------------------------------


@cache
def params() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def key_exists(key: str) -> bool:
    node = params()
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


DOTTED = re.compile(r"(?<![\w./-])((?:%s)\.[A-Za-z_][\w.]*)" % "|".join(TOP_GROUPS))


def params_named(path: Path) -> list[tuple[int, str]]:
    """Keys the page names: dotted keys of a params group in code, and the keys of `-S key=value` / `S="..."`."""
    found = []
    code = list(page(path).spans())
    for first, lang, block in page(path).blocks:
        if lang in COMMAND_LANGS:
            code += [(first + i, line) for i, line in enumerate(block, 1)]
    for number, text in code:
        for match in DOTTED.finditer(text):
            key = match.group(1).rstrip(".")
            if key.rsplit(".", 1)[-1] in FILE_SUFFIXES and key.count(".") == 1:
                continue  # a file name: model.pt, labels.csv
            found.append((number, key))
        span = text.strip()
        bare = re.match(r"^([a-z_]+):\s+\S", span)  # `subset: all`
        if bare and difflib.get_close_matches(bare.group(1), [k for k in params() if k not in TOP_GROUPS], cutoff=0.75):
            found.append((number, bare.group(1)))
    for number, line in page(path).command_lines():
        words = tokens(line)
        for i, word in enumerate(words):
            values = []
            if word in ("-S", "--set") and i + 1 < len(words):
                values = [words[i + 1]]
            elif word.startswith("S="):
                values = [w for w in word[2:].split() if not w.startswith("-")]
            for value in values:
                if "=" in value:
                    found.append((number, value.split("=", 1)[0].split(":")[-1]))
    return found


@pytest.mark.parametrize("path", DOCS, ids=rel)
def test_params_keys_exist(path: Path):
    problems = [
        f"{rel(path)}:{number}: `{key}` is not a key of params.yaml"
        for number, key in params_named(path)
        if not key_exists(key) and key not in PLACEHOLDERS and not key.isupper()
    ]
    assert not problems, "\n".join(problems)


# ---- figures and machine paths --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", DOCS, ids=rel)
def test_figures_come_from_benchmarks(path: Path):
    """Measurements live in benchmarks/README.md: a figure such as 0.9077 quoted elsewhere must be one of its."""
    held = BENCHMARKS.read_text(encoding="utf-8")
    problems = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        for figure in re.findall(r"(?<![\w.])0\.\d{3,4}(?![\d])", line):
            if not re.search(r"(?<![\w.])%s(?!\d)" % re.escape(figure), held):
                problems.append(f"{rel(path)}:{number}: {figure} is not a figure of benchmarks/README.md")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", LINKED, ids=rel)
def test_no_machine_paths(path: Path):
    text = path.read_text(encoding="utf-8")
    found = re.findall(r"(?:/work/|\.\./shared\b|/root/|/home/\w+)", text)
    assert not found, f"{rel(path)} names paths of one machine: {sorted(set(found))}"


# ---- files and modules named ----------------------------------------------------------------------------------

REPO_DIRS = ("faceattr/", "stages/", "tests/", "benchmarks/", "recipes/", "docs/", ".ci/")


@pytest.mark.parametrize("path", DOCS, ids=rel)
def test_named_files_and_modules_exist(path: Path):
    """Every repository path in inline code, and every `python -m` module or `python benchmarks/x.py`
    script a command runs, exists."""
    problems = []
    for number, span in page(path).spans():
        for word in re.findall(r"[\w./-]+", span):
            if not word.startswith(REPO_DIRS) or re.search(r"[<{*]|NAME|\.\.\.", word):
                continue
            if not (ROOT / word.rstrip(".")).exists():
                problems.append(f"{rel(path)}:{number}: {word}: no such file or folder")
    for number, line in page(path).command_lines():
        for command in commands(line):
            for i, word in enumerate(command[:-1]):
                placeholder = command[i + 1].split(".")[-1].isupper()  # stages.NAME
                if word == "-m" and i and command[i - 1].endswith("python") and not placeholder:
                    module = ROOT / command[i + 1].replace(".", "/")
                    if not (module.with_suffix(".py").exists() or (module / "__main__.py").exists()):
                        problems.append(f"{rel(path)}:{number}: python -m {command[i + 1]}: no such module")
            if command[0].endswith("python") and len(command) > 1 and command[1].endswith(".py"):
                if not (ROOT / command[1]).exists():
                    problems.append(f"{rel(path)}:{number}: python {command[1]}: no such script")
    assert not problems, "\n".join(problems)
