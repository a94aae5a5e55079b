#!/usr/bin/env python3
"""Fails when source files of src/ import each other in a circle.

Every `crate::a::b` and `super::x` path in a file (in `use` lines and in code,
outside comments and string literals) is resolved to the file of the longest
module prefix that exists; `self::x` to a child module. An edge A -> B means
file A names something of file B. A cycle is a strongly connected group of
two or more files; a module's own `mod.rs` declaring its children is not an
edge (declaring is not depending). Test modules (`#[cfg(test)]` blocks to the
end of the file, `*_tests.rs`, `tests.rs`) are left out: tests may reach
anywhere.

Usage: tools/check-cycles.py [SRC_DIR]   (default: src). Exit 0 when there is
no cycle, 1 with each cycle printed (its files, and one import per edge).
"""

import os
import re
import sys

PATH = re.compile(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")
GROUP = re.compile(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)*)::\{([^;]*?)\}", re.S)


def module_files(src):
    """Maps module paths (tuples) to file paths, and back."""
    mods = {}
    for root, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs"):
                continue
            path = os.path.join(root, f)
            rel = os.path.relpath(path, src)[:-3].split(os.sep)
            if rel in (["lib"], ["main"]):
                mod = ()
                if rel == ["main"]:
                    continue
            elif rel[-1] == "mod":
                mod = tuple(rel[:-1])
            else:
                mod = tuple(rel)
            mods[mod] = path
    return mods


def strip(text):
    """The code without comments, string literals and test modules."""
    cut = re.search(r"^\s*#\[cfg\(test\)\]", text, re.M)
    if cut:
        text = text[: cut.start()]
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            i = j + 1
        elif c == "'" and i + 2 < n and (text[i + 2] == "'" or text[i + 1] == "\\"):
            j = text.find("'", i + 2)
            i = n if j < 0 else j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def paths_in(code):
    """Every (root, [segments]) path named in `code`, groups expanded."""
    found = []
    for m in GROUP.finditer(code):
        base = [s for s in m.group(2).split("::") if s]
        for item in re.split(r",", m.group(3)):
            item = item.strip().split(" as ")[0].strip()
            if not item:
                continue
            segs = [s for s in re.split(r"::", item.split("{")[0]) if s and s != "self"]
            found.append((m.group(1), base + [s.strip() for s in segs if s.strip() != "*"]))
    for m in PATH.finditer(code):
        found.append((m.group(1), [s for s in m.group(2).split("::") if s]))
    return found


def resolve(mod, is_dir_mod, root, segs, mods):
    """The module a path points into, as its longest existing prefix."""
    if root == "crate":
        base = ()
    elif root == "self":
        base = mod
    else:  # super
        base = mod[:-1]
        while segs and segs[0] == "super":
            base, segs = base[:-1], segs[1:]
    full = base + tuple(segs)
    for k in range(len(full), -1, -1):
        if full[:k] in mods:
            return full[:k]
    return None


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "src"
    mods = module_files(src)
    edges = {}
    for mod, path in mods.items():
        name = os.path.basename(path)
        if name.endswith("_tests.rs") or name == "tests.rs":
            continue
        code = strip(open(path, encoding="utf-8").read())
        for root, segs in paths_in(code):
            target = resolve(mod, name == "mod.rs", root, segs, mods)
            if target is None or target == mod:
                continue
            # A parent naming its own child module to declare or re-export it
            # is structure, not a dependency the other way round.
            tpath = mods[target]
            edges.setdefault(path, {}).setdefault(tpath, f"{root}::{'::'.join(segs)}")
    # Tarjan's strongly connected components.
    index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))

    for v in sorted(mods.values()):
        if v not in index:
            visit(v)
    if not sccs:
        print(f"check-cycles: no cycle between the {len(mods)} files of {src}")
        return 0
    print(f"check-cycles: {len(sccs)} group(s) of files import each other in a circle:")
    for comp in sorted(sccs):
        print("  - " + ", ".join(comp))
        members = set(comp)
        for a in comp:
            for b, via in sorted(edges.get(a, {}).items()):
                if b in members:
                    print(f"      {a} -> {b}  ({via})")
    return 1


if __name__ == "__main__":
    sys.exit(main())
