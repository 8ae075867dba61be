#!/usr/bin/env python3
"""The layering rules that the compiler alone does not keep (make check-layers).

1. The pure crate `ha-core` (core/src/) uses no clock, file, socket, thread or `unsafe`:
   no code line (comments left out) matches FORBIDDEN.
2. The top-level modules of each crate (`ha-core`, `ha-agent`) form no cycle. The module graph
   is derived from the source: a file under `src/X/` or `src/X.rs` belongs to top-level module
   X; every `crate::Y` path in code (and `crate::{Y, ..}`, and `super::` paths resolved against
   the file's module path) is an edge X -> Y when Y is another top-level module of the same
   crate. Test code counts too. Modules re-exported from another crate (`pub use ha_core::...`
   in ha-agent's lib.rs) have no edges of their own in the agent's graph.

3. `cargo tree -p ha-core -e normal` lists none of the I/O crates in IO_CRATES.

Prints what it checked and every finding; exits 1 on any finding.
"""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CRATES = {"ha-core": "core/src", "ha-agent": "agent/src"}
PURE_CRATE = "ha-core"
FORBIDDEN = re.compile(r"std::fs|std::net|std::thread|std::time|\bInstant\b|SystemTime|\bunsafe\b")
IO_CRATES = ["rustix", "libc", "serialport", "signal-hook", "smoltcp", "nix", "socket2", "mio", "tokio"]


def code_lines(path):
    """(line number, code) for each line, comments and string-free attribute lines left out."""
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            code = line.split("//", 1)[0]
            if "forbid(unsafe_code)" in code or "deny(unsafe_code)" in code:
                continue
            if code.strip():
                yield number, code


def rust_files(src):
    for dirpath, _dirs, files in os.walk(src):
        for name in sorted(files):
            if name.endswith(".rs"):
                yield os.path.join(dirpath, name)


def module_path(src, path):
    rel = os.path.relpath(path, src)[: -len(".rs")].split(os.sep)
    if rel[-1] in ("mod", "lib", "main"):
        rel = rel[:-1]
    return rel


def top_level_modules(src):
    names = set()
    for entry in os.listdir(src):
        full = os.path.join(src, entry)
        if entry.endswith(".rs") and entry not in ("lib.rs", "main.rs"):
            names.add(entry[:-3])
        elif os.path.isdir(full):
            names.add(entry)
    return names


def crate_paths(code):
    """The first segment of every `crate::` path in a line, braces expanded one level."""
    for m in re.finditer(r"\bcrate::(\{[^}]*\}|\w+)", code):
        seg = m.group(1)
        if seg.startswith("{"):
            for part in seg[1:-1].split(","):
                part = part.strip().split("::")[0].strip()
                if part:
                    yield part
        else:
            yield seg


def graph(src):
    tops = top_level_modules(src)
    edges = {}
    for path in rust_files(src):
        mod = module_path(src, path)
        if not mod:
            continue  # lib.rs: declarations and re-exports only
        me = mod[0]
        for number, code in code_lines(path):
            targets = list(crate_paths(code))
            for m in re.finditer(r"\b((?:super::)+)(\w+)", code):
                ups = m.group(1).count("super::")
                resolved = mod[: len(mod) - ups] if ups <= len(mod) else []
                if not resolved:
                    targets.append(m.group(2))
            for t in targets:
                if t in tops and t != me:
                    edges.setdefault((me, t), []).append(f"{os.path.relpath(path, ROOT)}:{number}")
    return tops, edges


def cycles(tops, edges):
    """Strongly connected components with more than one module (Tarjan)."""
    succ = {t: sorted({b for (a, b) in edges if a == t}) for t in tops}
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in succ[v]:
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
                out.append(sorted(comp))

    for t in sorted(tops):
        if t not in index:
            visit(t)
    return out


def main():
    failures = 0
    pure_src = os.path.join(ROOT, CRATES[PURE_CRATE])
    hits = []
    files = 0
    for path in rust_files(pure_src):
        files += 1
        for number, code in code_lines(path):
            if FORBIDDEN.search(code):
                hits.append(f"{os.path.relpath(path, ROOT)}:{number}: {code.strip()}")
    print(f"{PURE_CRATE}: {files} files, forbidden uses ({FORBIDDEN.pattern}): {len(hits)}")
    for h in hits:
        print("  " + h)
    failures += len(hits)

    tree = subprocess.run(
        ["cargo", "tree", "--locked", "-p", PURE_CRATE, "-e", "normal", "--prefix", "none"],
        cwd=ROOT, capture_output=True, text=True,
    )
    if tree.returncode != 0:
        print(tree.stderr)
        return 1
    deps = sorted({line.split()[0] for line in tree.stdout.splitlines() if line.strip()})
    io = [d for d in deps if d in IO_CRATES]
    print(f"{PURE_CRATE}: {len(deps)} crates in `cargo tree -e normal`, I/O crates among them: {io or 'none'}")
    failures += len(io)

    for crate, src in CRATES.items():
        tops, edges = graph(os.path.join(ROOT, src))
        found = cycles(tops, edges)
        print(f"{crate}: {len(tops)} top-level modules, {len(edges)} edges, cycles: {len(found)}")
        for comp in found:
            print("  cycle among " + ", ".join(comp) + ":")
            for (a, b), where in sorted(edges.items()):
                if a in comp and b in comp:
                    print(f"    {a} -> {b}  ({len(where)}x, e.g. {where[0]})")
        failures += len(found)

    print("check-layers: " + ("ok" if failures == 0 else f"{failures} finding(s)"))
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
