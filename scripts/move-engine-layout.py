#!/usr/bin/env python3
"""One-shot migration of engine/ to the layout sketched in docs/ENGINE.md ("Layout").

Run from the repository root on a clean tree, after the branches that still edit engine/
files at their old paths have been merged (so git's rename detection and this script see
every include), then build, run the tests and commit the result as ONE commit, deleting
this script in the same commit:

    scripts/move-engine-layout.py && cmake --build build && ctest --test-dir build
    git rm -q scripts/move-engine-layout.py && git add -A && git commit -m "engine/ layout"

What it does, mechanically (no file is split or edited beyond paths):
  1. `git mv` each file of the table below (model/, step/, kernels/cpu/, sampling/).
     engine.h, generate.h, activation.h, step_stats.h, rng.h and tokenizer.h stay on top:
     they are the public surface; format/, tokenizers/ and tools/ do not move.
  2. Rewrites every "engine/<old path>" in tracked .cc/.h/.md/.txt/.py/.sh/.cmake files
     (includes, docs, CMake), and the moved headers' include guards.
  3. Rewrites the source lists of engine/CMakeLists.txt (paths relative to engine/), the
     short backticked paths in docs/ENGINE.md's tables, and its "Layout (target)" intro.
  4. clang-format -i on the C++ files it touched (include order follows the new paths).
Prints the old -> new table; exits non-zero if an include of "engine/..." no longer
resolves.
"""
import os
import re
import subprocess
import sys

MODEL = ["model.h", "model.cc", "model_config.h", "model_config.cc", "tensor.h", "dtype.h",
         "dtype.cc", "dtype_test.cc", "huge_page_buffer.h", "huge_page_buffer.cc",
         "huge_page_buffer_test.cc"]
STEP = ["forward_state.h", "forward_state.cc", "ffn.h", "ffn.cc", "attention.h", "attention.cc",
        "attention_test.cc", "rope.h", "rope.cc", "kv_cache.h", "kv_cache.cc", "predictor.h",
        "predictor.cc", "predictor_fit.cc"]
SAMPLING = ["sampler.h", "sampler.cc", "sampler_test.cc", "stop_matcher.h", "stop_matcher.cc",
            "stop_matcher_test.cc"]
CPU_EXTRA = ["transposed_weights.h", "transposed_weights.cc"]


def moves():
    table = {}
    for folder, names in (("model", MODEL), ("step", STEP), ("sampling", SAMPLING),
                          ("kernels/cpu", CPU_EXTRA)):
        for n in names:
            if os.path.exists(f"engine/{n}"):
                table[f"engine/{n}"] = f"engine/{folder}/{n}"
    for n in sorted(os.listdir("engine/kernels")):
        if os.path.isfile(f"engine/kernels/{n}"):
            table[f"engine/kernels/{n}"] = f"engine/kernels/cpu/{n}"
    return table


LAYOUT_DONE = """## Layout

`engine/` is laid out by part, so a reader (and the quantized and CUDA work of issues
10–12) finds each in one folder. The top level holds the public surface a program embeds;
the folders hold what it is built from.

"""


def guard(path):
    return "STOCHA_" + re.sub(r"[^A-Za-z0-9]", "_", path).upper() + "_"


def main():
    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    table = moves()
    if not table:
        sys.exit("nothing to move (already done?)")
    for old, new in table.items():
        os.makedirs(os.path.dirname(new), exist_ok=True)
        subprocess.check_call(["git", "mv", old, new])
        print(f"{old} -> {new}")

    alternatives = "|".join(re.escape(o) for o in sorted(table, key=len, reverse=True))
    full = re.compile(r"(?<![\w/.])(" + alternatives + r")(?![\w])")
    files = subprocess.check_output(["git", "ls-files"]).decode().split()
    touched = []
    for f in files:
        if not f.endswith((".cc", ".h", ".md", ".txt", ".py", ".sh", ".cmake")) or \
                not os.path.isfile(f) or f == "scripts/move-engine-layout.py":
            continue
        s = open(f, encoding="utf-8").read()
        t = full.sub(lambda m: table[m.group(1)], s)
        if f in table.values() and f.endswith(".h"):
            old = next(o for o, n in table.items() if n == f)
            t = t.replace(guard(old), guard(f))
        if f == "engine/CMakeLists.txt":
            # Source lists: lines that are one path relative to engine/.
            def source(m):
                key = "engine/" + m.group(2)
                return m.group(1) + (table[key][len("engine/"):] if key in table else m.group(2))
            t = re.sub(r"(?m)^(\s+)([\w/]+\.(?:cc|h))\s*$", source, t)
            # Keep each run of source lines sorted.
            lines, run, out = t.split("\n"), [], []
            for line in lines + [""]:
                if re.fullmatch(r"\s+[\w/]+\.(?:cc|h)", line):
                    run.append(line)
                    continue
                out += sorted(run, key=str.strip) + [line]
                run = []
            t = "\n".join(out[:-1])
        if f == "docs/ENGINE.md":
            t = re.sub(r"## Layout \(target\)\n\n.*?\n\n", LAYOUT_DONE, t, count=1, flags=re.S)
            t = re.sub(r"`([\w/]+\.(?:cc|h))`",
                       lambda m: "`" + table.get("engine/" + m.group(1), "engine/" + m.group(1))
                       [len("engine/"):] + "`", t)
        if t != s:
            open(f, "w", encoding="utf-8").write(t)
            touched.append(f)
    cpp = [f for f in touched if f.endswith((".cc", ".h"))]
    if cpp:
        subprocess.check_call(["clang-format", "-i", "--style=file"] + cpp)
    print(f"rewrote {len(touched)} files")

    missing = []
    for f in subprocess.check_output(["git", "ls-files", "*.cc", "*.h"]).decode().split():
        if not os.path.isfile(f):
            continue
        for inc in re.findall(r'#include "(engine/[^"]+)"', open(f, encoding="utf-8").read()):
            if not os.path.isfile(inc):
                missing.append(f"{f}: {inc}")
    if missing:
        sys.exit("unresolved includes:\n  " + "\n  ".join(missing))


if __name__ == "__main__":
    main()
