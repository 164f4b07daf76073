#!/usr/bin/env python3
"""Fails when a dependency between two folders of src/ closes a cycle that is not already
listed in scripts/layers.allow (a ratchet: today's cycle edges are listed there, and each
refactoring deletes the lines it makes unnecessary; no line may be added).

A module is a file of src/ without its extension (api/router = api/router.c + api/router.h).
Module A depends on module B when A.c or A.h includes B.h, or, given the object files, when
A.o references a symbol B.o defines (nm). A module's folder is its first path component
("." for src/main.c and src/server.c). The folders and the cross-folder edges form a graph;
every cross-folder module edge whose two folders lie in one strongly connected component is a
cycle edge. Cycles inside one folder (mqtt_server <-> mqtt_handle) are fine.

Usage: check_layers.py [--objects DIR] [--allow FILE] [--print-allow] [--report]
  --objects DIR   a CMake build tree (the objects of iotad_core and iotad are read with nm);
                  without it only #include edges are checked
  --print-allow   prints the allow-list the tree needs today (to create or shrink it)
  --report        prints the folder graph and its strongly connected components
"""
import argparse
import collections
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "src")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def folder(module):
    parts = module.split("/")
    return parts[0] if len(parts) > 1 else "."


def include_edges(edges):
    for dirpath, _, files in os.walk(SRC):
        for f in files:
            if not f.endswith((".c", ".h")):
                continue
            path = os.path.join(dirpath, f)
            mod = os.path.relpath(path, SRC)[:-2]
            with open(path, encoding="utf-8", errors="replace") as fh:
                text = fh.read()
            for inc in INCLUDE.findall(text):
                if "/" in inc:
                    target = inc
                else:  # "x.h" next to the includer
                    target = os.path.join(os.path.dirname(mod), inc)
                target = os.path.normpath(target)
                if not os.path.exists(os.path.join(SRC, target)):
                    continue  # a system or generated header
                tmod = target[:-2] if target.endswith(".h") else target
                if tmod != mod:
                    edges[(mod, tmod)].add("#include " + inc)


def object_edges(objdir, edges):
    defs, uses = {}, collections.defaultdict(set)
    found = 0
    for dirpath, _, files in os.walk(objdir):
        for f in files:
            if not f.endswith(".c.o"):
                continue
            path = os.path.join(dirpath, f)
            rel = path.replace(os.sep, "/")
            m = re.search(r"/(?:iotad_core|iotad)\.dir/src/(.+)\.c\.o$", rel)
            if not m:
                continue
            mod = m.group(1)
            if not os.path.exists(os.path.join(SRC, mod + ".c")):
                continue  # a stale object of a file since moved or deleted
            found += 1
            out = subprocess.run(["nm", "-P", path], capture_output=True, text=True, check=True)
            for line in out.stdout.splitlines():
                parts = line.split()
                if len(parts) < 2:
                    continue
                sym, kind = parts[0], parts[1]
                if kind == "U":
                    uses[mod].add(sym)
                elif kind in "TDBRCGSVW":
                    defs.setdefault(sym, mod)
    if found == 0:
        sys.exit(f"check_layers: no iotad object files under {objdir}")
    for mod, syms in uses.items():
        for sym in syms:
            target = defs.get(sym)
            if target and target != mod:
                edges[(mod, target)].add(sym)


def sccs(graph):
    index, low, stack, on, comps, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
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
            comps.append(sorted(comp))

    nodes = set(graph) | {w for ws in graph.values() for w in ws}
    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return comps


def path_back(graph, start, goal):
    """A shortest folder path start -> ... -> goal (to show which cycle an edge closes)."""
    prev, queue = {start: None}, [start]
    for v in queue:
        if v == goal:
            break
        for w in sorted(graph.get(v, ())):
            if w not in prev:
                prev[w] = v
                queue.append(w)
    if goal not in prev:
        return []
    out, v = [], goal
    while v is not None:
        out.append(v)
        v = prev[v]
    return out[::-1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--objects")
    ap.add_argument("--allow", default=os.path.join(ROOT, "scripts", "layers.allow"))
    ap.add_argument("--print-allow", action="store_true")
    ap.add_argument("--report", action="store_true")
    args = ap.parse_args()

    edges = collections.defaultdict(set)
    include_edges(edges)
    if args.objects:
        object_edges(args.objects, edges)

    graph = collections.defaultdict(set)
    for a, b in edges:
        if folder(a) != folder(b):
            graph[folder(a)].add(folder(b))
    comps = sccs(graph)
    comp_of = {v: i for i, c in enumerate(comps) for v in c}
    cycle = sorted(
        (a, b)
        for a, b in edges
        if folder(a) != folder(b) and comp_of[folder(a)] == comp_of[folder(b)]
    )

    if args.report:
        for a in sorted(graph):
            print(f"{a} -> {' '.join(sorted(graph[a]))}")
        for c in comps:
            if len(c) > 1:
                print("cycle between folders: " + " ".join(c))
    if args.print_allow:
        print("# Cross-folder dependencies that close a cycle between folders, kept only until")
        print("# they are removed (see scripts/check_layers.py). Delete lines; never add one.")
        for a, b in cycle:
            print(f"{a} -> {b}")
        return 0

    allowed = set()
    if os.path.exists(args.allow):
        with open(args.allow, encoding="utf-8") as fh:
            for line in fh:
                line = line.split("#", 1)[0].strip()
                if line:
                    a, _, b = line.partition("->")
                    allowed.add((a.strip(), b.strip()))
    new = [e for e in cycle if e not in allowed]
    # without the objects only the include edges are seen: staleness needs both
    stale = sorted(allowed - set(cycle)) if args.objects else []
    for a, b in stale:
        print(f"check_layers: note: '{a} -> {b}' no longer closes a cycle: delete it from "
              f"{os.path.relpath(args.allow, ROOT)}")
    if new:
        for a, b in new:
            back = path_back(graph, folder(b), folder(a))
            why = " ".join(sorted(edges[(a, b)]))
            print(f"check_layers: NEW cycle edge src/{a} -> src/{b} ({why})")
            print(f"  closes the cycle {folder(a)} -> {' -> '.join(back)}")
        print("A lower layer must not call or include a higher one: pass a callback or emit an "
              "event (core/events.h) wired in server.c instead; see docs/design.md, 'Layers'.")
        return 1
    print(f"check_layers: ok ({len(cycle)} allowed cycle edges, "
          f"{sum(1 for c in comps if len(c) > 1)} cycles between folders)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
