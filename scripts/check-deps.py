#!/usr/bin/env python3
"""Checks that scripts/install-deps.sh provides every Python module and
external program that the tests, benchmarks, experiments and scripts use.

A fresh machine has only what install-deps.sh installs. A test that imports a
module which merely happens to be installed on the developer's machine passes
there and fails for every user; this check makes that a test failure instead.

    scripts/check-deps.py [--root DIR] [--packages "pkg1 pkg2 ..."] [--python PY]

What is scanned (under --root, the source tree):
  tests/, experiments/, scripts/, python/, datasets/, .ci/ - every *.py, *.sh,
  *.c, *.mk, *.gp file and every extension-less executable script.
Python modules: `import X` / `from X import` anywhere in a line, also inside C
  strings ("import numpy as np\\n"), and ddad_test_python_has("X Y").
  Modules defined in the tree (X.py) are skipped. Each remaining top-level
  module is resolved with the interpreter (--python, default /usr/bin/python3):
  standard library -> fine; a file owned by a Debian package -> that package
  must be in install-deps.sh's list; not importable -> error.
Programs: the first word of ddad_test_system("..."), popen("...") and
  system("...") strings in C, and of commands in shell scripts, resolved on
  PATH. A program owned by an Essential package (coreutils, grep, ...) or a
  listed package is fine; one owned by another package is an error. Programs
  probed with `command -v X` are optional (the caller skips without them) and
  are not required; names that resolve to nothing are ignored (functions,
  the project's own programs, optional tools).

Exit status: 0 all provided, 1 something is missing (each printed as
"FILE: python module M (package P) is not installed by scripts/install-deps.sh"),
2 usage.
"""
import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys

SCAN_DIRS = ["tests", "experiments", "scripts", "python", "datasets", ".ci"]
SCAN_EXT = {".py", ".sh", ".c", ".mk", ".gp"}

IMPORT_RE = re.compile(r"(?:^|\\n|[\s;\"'(])(?:import|from)\s+([A-Za-z_][A-Za-z0-9_]*)(?:[.\w]*)(\s+import\b)?")
PYHAS_RE = re.compile(r"python_has\(\"([^\"]+)\"\)")
C_PYCTX_RE = re.compile(r"(\\n|-c\s*\\?[\"']|;)\s*$")
CSYS_RE = re.compile(r"(?:ddad_test_system|popen|system)\(\"\s*([A-Za-z0-9_./-]+)")
CMDV_RE = re.compile(r"command\s+-v\s+([A-Za-z0-9_.+-]+)")
SH_SKIP = set("""if then else elif fi for while until do done case esac in function return local export
    set unset shift exit echo printf read cd pwd test true false trap wait eval exec source . : [ [[ ]] { }
    declare typeset readonly let break continue command type hash ulimit umask kill jobs builtin mapfile
    getopts shopt alias time select""".split())
# Words that look like commands in prose or heredocs but are not run.
NOT_PROGRAMS = {"the", "a", "an", "to", "and", "or", "of", "with", "is", "on", "from", "as", "by", "at", "it"}


def install_list(root, override):
    if override is not None:
        return set(override.split())
    out = subprocess.run(["bash", os.path.join(root, "scripts/install-deps.sh"), "--list"],
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit("check-deps: scripts/install-deps.sh --list failed: " + out.stderr.strip())
    return set(out.stdout.split())


def files_to_scan(root):
    for d in SCAN_DIRS:
        top = os.path.join(root, d)
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = [x for x in dirnames if x not in ("__pycache__", "regressions", "corpus")]
            for f in filenames:
                p = os.path.join(dirpath, f)
                ext = os.path.splitext(f)[1]
                if ext in SCAN_EXT or (ext == "" and os.access(p, os.X_OK)):
                    yield p


def local_modules(root):
    mods = set()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [x for x in dirnames if not x.startswith(".") and not x.startswith("build")]
        for f in filenames:
            if f.endswith(".py"):
                mods.add(f[:-3])
    return mods


def is_stdlib(origin, pkg):
    """A module of Python's own library: built in, or owned by the interpreter's packages."""
    if origin in (None, "built-in", "frozen"):
        return True
    if "dist-packages" in origin or "site-packages" in origin:
        return False
    return pkg is not None and re.match(r"^(libpython3|python3(\.\d+)?(-minimal)?$)", pkg) is not None


def dependency_closure(listed):
    """The listed packages and everything they depend on, among installed packages."""
    out = subprocess.run(["dpkg-query", "-W", "-f=${Package}\t${Depends}, ${Pre-Depends}\t${Provides}\n"],
                         capture_output=True, text=True)
    deps, provided_by = {}, {}
    for line in out.stdout.splitlines():
        name, dep, prov = (line.split("\t") + ["", ""])[:3]
        alts = []
        for group in dep.split(","):
            names = [re.sub(r"[\s(:].*$", "", a.strip()) for a in group.split("|")]
            alts.append([n for n in names if n])
        deps[name] = alts
        for pv in prov.split(","):
            pv = re.sub(r"[\s(].*$", "", pv.strip())
            if pv:
                provided_by.setdefault(pv, []).append(name)
    seen, todo = set(), list(listed)
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        for group in deps.get(p, []):
            for n in group:
                for real in [n] + provided_by.get(n, []):
                    if real in deps and real not in seen:
                        todo.append(real)
    return seen


def owning_package(path):
    out = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True)
    if out.returncode != 0:
        real = os.path.realpath(path)
        if real != path:
            out = subprocess.run(["dpkg", "-S", real], capture_output=True, text=True)
    if out.returncode != 0:
        return None
    pkg = out.stdout.splitlines()[0].split(":")[0].strip()
    return pkg.split(",")[0].strip()


def is_essential(pkg):
    out = subprocess.run(["dpkg-query", "-W", "-f=${Essential} ${Priority}", pkg], capture_output=True, text=True)
    fields = out.stdout.split()
    return out.returncode == 0 and (fields[:1] == ["yes"] or "required" in fields)


def resolve_module(python, mod):
    """origin path of a module under the given interpreter, "" when not importable."""
    if python == sys.executable:
        spec = importlib.util.find_spec(mod)
        return "" if spec is None else (spec.origin or "built-in")
    code = ("import importlib.util as u, sys; s = u.find_spec(sys.argv[1]); "
            "print('' if s is None else (s.origin or 'built-in'))")
    out = subprocess.run([python, "-c", code, mod], capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else ""


def shell_commands(text):
    """First words of shell commands in a script (a rough, conservative parse)."""
    words = []
    in_heredoc = None
    for line in text.splitlines():
        s = line.strip()
        if in_heredoc:
            if s == in_heredoc:
                in_heredoc = None
            continue
        m = re.search(r"<<-?\s*'?\"?([A-Za-z_]+)", s)
        if m:
            in_heredoc = m.group(1)
        if not s or s.startswith("#"):
            continue
        s = re.sub(r"#.*$", "", s) if " #" in s else s
        s = re.sub(r"'[^']*'", "''", s)
        for part in re.split(r"\|\||&&|[;|`]|\$\(|\bthen\b|\bdo\b|\belse\b", s):
            toks = part.strip().split()
            while toks and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", toks[0]):
                toks = toks[1:]
            if not toks:
                continue
            w = toks[0].strip("({")
            if w in ("sudo", "exec", "timeout", "env", "nice", "command", "xargs") and len(toks) > 1:
                w = toks[1] if w != "timeout" or len(toks) < 3 else toks[2]
                if w.startswith("-"):
                    continue
            if re.match(r"^[a-z][A-Za-z0-9_.+-]*$", w) and w not in SH_SKIP and w not in NOT_PROGRAMS:
                words.append(w)
    return words


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    ap.add_argument("--packages", default=None, help="package list to check against (default: install-deps.sh --list)")
    ap.add_argument("--python", default="/usr/bin/python3")
    a = ap.parse_args()
    root = os.path.abspath(a.root)
    listed = dependency_closure(install_list(root, a.packages))
    local = local_modules(root)

    modules = {}    # module -> first file using it
    programs = {}   # program -> first file using it
    optional = set()
    for path in files_to_scan(root):
        try:
            text = open(path, encoding="utf-8", errors="replace").read()
        except OSError:
            continue
        rel = os.path.relpath(path, root)
        is_py = path.endswith(".py") or text.startswith("#!/usr/bin/env python") or text.startswith("#!/usr/bin/python")
        is_c = path.endswith(".c")
        is_sh = path.endswith(".sh") or text.startswith("#!/usr/bin/env bash") or text.startswith("#!/bin/")
        if is_py or is_c or is_sh:
            for m in IMPORT_RE.finditer(text):
                mod = m.group(1)
                line_start = text.rfind("\n", 0, m.start()) + 1
                line = text[line_start:text.find("\n", m.end()) if text.find("\n", m.end()) >= 0 else len(text)]
                stripped = line.lstrip()
                # prose in comments ("# import the data") is not an import
                if stripped.startswith(("#", "//", "*", "/*")) and not is_py:
                    continue
                if is_py and stripped.startswith("#"):
                    continue
                # in C and shell, only python code: after "-c '", a ";" or "\\n" in a string
                if not is_py and not C_PYCTX_RE.search(text[line_start:m.start() + 1]) and "\\n" not in line:
                    continue
                if m.group(0).lstrip().startswith("from") and not m.group(2):
                    continue
                modules.setdefault(mod, rel)
        if is_c:
            for m in PYHAS_RE.finditer(text):
                for mod in re.split(r"[\s,]+", m.group(1).strip()):
                    modules.setdefault(mod.split(".")[0], rel)
            for m in CSYS_RE.finditer(text):
                w = m.group(1)
                if "/" not in w and "=" not in w:
                    programs.setdefault(w, rel)
        if is_sh or is_c:
            optional.update(CMDV_RE.findall(text))
        if is_sh:
            for w in shell_commands(text):
                programs.setdefault(w, rel)

    errors = []
    for mod, rel in sorted(modules.items()):
        if mod in local or mod in sys.builtin_module_names:
            continue
        origin = resolve_module(a.python, mod)
        if origin == "":
            errors.append(f"{rel}: python module {mod} is not importable with {a.python} "
                          "(add its Debian package to scripts/install-deps.sh)")
            continue
        pkg = None if origin in ("built-in", "frozen") else owning_package(origin)
        if is_stdlib(origin, pkg):
            continue
        if pkg is None:
            errors.append(f"{rel}: python module {mod} ({origin}) comes from no Debian package "
                          "(installed by hand?); install-deps.sh cannot provide it")
        elif pkg not in listed and not is_essential(pkg):
            errors.append(f"{rel}: python module {mod} (package {pkg}) is not installed by scripts/install-deps.sh")
    for prog, rel in sorted(programs.items()):
        if prog in optional:
            continue
        path = shutil.which(prog)
        if path is None:
            continue
        pkg = owning_package(path)
        if pkg is None or pkg in listed or is_essential(pkg):
            continue
        errors.append(f"{rel}: program {prog} (package {pkg}) is not installed by scripts/install-deps.sh")
    for e in errors:
        print(e)
    n_mod = len([m for m in modules if m not in local])
    print(f"check-deps: {n_mod} python modules, {len(programs)} programs checked, {len(errors)} missing")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
