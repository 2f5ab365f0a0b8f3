#!/usr/bin/env python3
"""Helpers for bench/run.sh (standard library only, any Python 3.6+).

  benchlib.py treemem PID OUT          sample the memory of PID's process tree until PID exits;
                                       write the peak (KiB, sum of PSS) to OUT
  benchlib.py changed TOOL RUN LOG     print the changed count a tool reported in LOG ("-" if none)
  benchlib.py report RESULTS CHECKS TASKS
                                       print the Markdown report of a run

RESULTS is the TSV that run.sh writes: hosts tool run rep rc wall user sys maxrss_kb treemem_kb
changed. CHECKS: hosts check result detail.
"""

import json
import os
import re
import sys
import time

# ---------------------------------------------------------------------------------------------
# treemem: the summed proportional set size of a process and all its descendants.
# GNU time's "maximum resident set size" is the largest single process; a tool that forks
# workers (Ansible) uses far more than that in total. PSS splits shared pages between the
# processes that share them, so the sum does not count copy-on-write pages of forks twice.


def _children_map():
    kids = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may contain spaces and parentheses.
        rest = stat[stat.rfind(b")") + 2 :].split()
        if len(rest) < 2:
            continue
        kids.setdefault(int(rest[1]), []).append(int(name))
    return kids


def _mem_kib(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    except (OSError, IndexError, ValueError):
        return 0


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2 :][:1] != b"Z"


def treemem(pid, out, interval=0.2):
    peak = 0
    while _alive(pid):
        kids = _children_map()
        todo, total = [pid], 0
        while todo:
            p = todo.pop()
            total += _mem_kib(p)
            todo.extend(kids.get(p, ()))
        peak = max(peak, total)
        time.sleep(interval)
    with open(out, "w") as f:
        f.write(f"{peak}\n")


# ---------------------------------------------------------------------------------------------
# changed: what each tool says it changed.


def changed(tool, run, log):
    try:
        with open(log, errors="replace") as f:
            text = f.read()
    except OSError:
        return "-"
    if tool == "shipshape":
        # --output jsonl: the recap event lists [host, {ok, changed, ...}] pairs.
        for line in reversed(text.splitlines()):
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if ev.get("event") == "recap":
                return str(sum(int(s.get("changed", 0)) for _, s in ev.get("hosts", [])))
        return "-"
    if tool == "ansible":
        # PLAY RECAP: "h002   : ok=22   changed=19   unreachable=0 ..."
        counts = re.findall(r"^\S+\s+:\s+ok=\d+\s+changed=(\d+)", text, re.M)
        return str(sum(int(c) for c in counts)) if counts else "-"
    if tool == "pyinfra":
        if run == "check":
            # --dry: "--> Detected changes:" table, columns Operation / Change / Conditional
            # Change; "2 (h002, h003)" is how many hosts would change, "-" none. Conditional
            # changes (may or may not happen) are not counted.
            m = re.search(r"--> Detected changes:\n(.*?)\n\s*\n", text, re.S)
            if not m:
                return "-"
            total = 0
            for line in m.group(1).splitlines()[1:]:
                cols = re.split(r"\s{2,}", line.strip())
                n = re.match(r"(\d+)", cols[1]) if len(cols) >= 2 else None
                if n:
                    total += int(n.group(1))
            return str(total)
        # -y: "--> Results:" table ending in "Grand total  HOSTS  SUCCESS  ERROR  NOCHANGE";
        # Success counts operations that executed commands, i.e. changes.
        m = re.search(r"^\s*Grand total\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", text, re.M)
        if not m:
            return "-"
        return m.group(2) if m.group(2).isdigit() else "0"
    return "-"


# ---------------------------------------------------------------------------------------------
# report: the Markdown tables.

RUNS = ("first", "converged", "check")
TOOLS = ("shipshape", "ansible", "pyinfra")


def _num(s):
    try:
        return float(s)
    except ValueError:
        return None


def _fmt(x, digits=2):
    if x is None:
        return "-"
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.{digits}f}"


def _ratio(a, b):
    if a is None or b is None or b == 0:
        return "-"
    return f"{a / b:.1f}x" if a / b >= 10 else f"{a / b:.2f}x"


def load(results):
    """Rows keyed by (hosts, tool, run): the repetition with the median wall time."""
    groups = {}
    with open(results) as f:
        for line in f:
            cols = line.rstrip("\n").split("\t")
            if len(cols) < 11 or cols[0] == "hosts":
                continue
            row = dict(
                zip(
                    (
                        "hosts",
                        "tool",
                        "run",
                        "rep",
                        "rc",
                        "wall",
                        "user",
                        "sys",
                        "maxrss",
                        "treemem",
                        "changed",
                    ),
                    cols,
                )
            )
            groups.setdefault((int(row["hosts"]), row["tool"], row["run"]), []).append(row)
    picked = {}
    for key, rows in groups.items():
        rows.sort(key=lambda r: _num(r["wall"]) or 0.0)
        med = rows[(len(rows) - 1) // 2]
        med = dict(med)
        med["reps"] = len(rows)
        med["walls"] = [_num(r["wall"]) for r in rows]
        picked[key] = med
    return picked


def report(results, checks, tasks):
    rows = load(results)
    hosts = sorted({k[0] for k in rows})
    tools = [t for t in TOOLS if any(k[1] == t for k in rows)]
    out = []

    def wall(h, tool, run):
        r = rows.get((h, tool, run))
        return _num(r["wall"]) if r and r["rc"] == "0" else None

    def cpu(h, tool, run):
        r = rows.get((h, tool, run))
        if not r or r["rc"] != "0":
            return None
        u, s = _num(r["user"]), _num(r["sys"])
        return None if u is None or s is None else u + s

    # Summary: wall seconds.
    head = "| hosts | ssh-ref |"
    sep = "|---|---|"
    for t in tools:
        head += f" {t} first / converged / check |"
        sep += "---|"
    out += ["Wall seconds (median of the repetitions; `-` = not run or failed):", "", head, sep]
    for h in hosts:
        line = f"| {h} | {_fmt(wall(h, 'ssh-ref', 'ref'))} |"
        for t in tools:
            line += " " + " / ".join(_fmt(wall(h, t, r)) for r in RUNS) + " |"
        out.append(line)

    # Ratios.
    out += ["", "Ratios of wall time (first / converged / check):", ""]
    head = "| hosts |"
    sep = "|---|"
    for t in tools:
        head += f" {t} / ssh-ref |"
        sep += "---|"
    for t in tools:
        if t != "shipshape" and "shipshape" in tools:
            head += f" {t} / shipshape |"
            sep += "---|"
    out += [head, sep]
    for h in hosts:
        ref = wall(h, "ssh-ref", "ref")
        line = f"| {h} |"
        for t in tools:
            line += " " + " / ".join(_ratio(wall(h, t, r), ref) for r in RUNS) + " |"
        for t in tools:
            if t != "shipshape" and "shipshape" in tools:
                line += (
                    " "
                    + " / ".join(_ratio(wall(h, t, r), wall(h, "shipshape", r)) for r in RUNS)
                    + " |"
                )
        out.append(line)

    # Details.
    out += [
        "",
        "Every measurement (CPU = user+sys of the tool's process tree; peak RSS = largest "
        "single process, GNU time; tree mem = peak of the summed PSS of the process tree, "
        f"sampled every 0.2 s; host-tasks/s = {tasks} tasks x hosts / wall):",
        "",
        "| hosts | tool | run | wall s | CPU s | peak RSS MB | tree mem MB | changed "
        "| host-tasks/s | wall / ssh-ref | wall / shipshape | CPU / shipshape | rc | reps (wall s) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for h in hosts:
        ref = wall(h, "ssh-ref", "ref")
        for t in ("ssh-ref",) + tuple(tools):
            for r in ("ref",) if t == "ssh-ref" else RUNS:
                row = rows.get((h, t, r))
                if not row:
                    continue
                w, c = _num(row["wall"]), cpu(h, t, r)
                rss = _num(row["maxrss"])
                tm = _num(row["treemem"])
                tm = max(tm or 0.0, rss or 0.0) or None
                hts = (
                    _fmt(tasks * h / w, 1)
                    if t != "ssh-ref" and w and row["rc"] == "0"
                    else "-"
                )
                vs_ref = _ratio(w, ref) if t != "ssh-ref" else "-"
                vs_ss = (
                    _ratio(wall(h, t, r), wall(h, "shipshape", r))
                    if t not in ("ssh-ref", "shipshape")
                    else "-"
                )
                cpu_ss = (
                    _ratio(c, cpu(h, "shipshape", r))
                    if t not in ("ssh-ref", "shipshape")
                    else "-"
                )
                reps = ", ".join(_fmt(x) for x in row["walls"])
                out.append(
                    f"| {h} | {t} | {r} | {_fmt(w)} | {_fmt(c)} | "
                    f"{_fmt(rss / 1024 if rss else None, 1)} | "
                    f"{_fmt(tm / 1024 if tm else None, 1)} | {row['changed']} | {hts} | "
                    f"{vs_ref} | {vs_ss} | {cpu_ss} | {row['rc']} | {reps} |"
                )

    # Checks.
    out += ["", "Checks:", ""]
    failed = 0
    try:
        with open(checks) as f:
            for line in f:
                cols = line.rstrip("\n").split("\t")
                if len(cols) < 3:
                    continue
                h, what, res = cols[:3]
                detail = cols[3] if len(cols) > 3 else ""
                if res != "ok":
                    failed += 1
                out.append(f"- {h} hosts: {what}: **{res}**{(' (' + detail + ')') if detail else ''}")
    except OSError:
        out.append("- (no checks recorded)")
    print("\n".join(out))
    return failed


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    cmd = argv[1]
    if cmd == "treemem" and len(argv) == 4:
        treemem(int(argv[2]), argv[3])
    elif cmd == "changed" and len(argv) == 5:
        print(changed(argv[2], argv[3], argv[4]))
    elif cmd == "report" and len(argv) == 5:
        failed = report(argv[2], argv[3], int(argv[4]))
        sys.exit(1 if failed else 0)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
