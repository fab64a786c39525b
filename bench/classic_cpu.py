"""Benchmark: CPU of one classic AGI script run (`python -c ...classic_agi...`), without a PBX.

The script is started once per call by Asterisk, so its start (the interpreter, the imports,
the settings, the survey definitions, the database) is paid on every call. Here a scripted
Asterisk stands in for the PBX: it writes the AGI header block, answers every command the way
Asterisk does (keys 1, 4, 2 for the three questions), and the script runs a whole survey
against a real SQLite database. CPU is the kernel's (the children's rusage), per run.

With --rootfs the script runs as it does in production: the Asterisk rootfs's own Python
(`chroot ROOTFS /usr/bin/python3`), from a copy of the code made inside the rootfs's /tmp for
the run (removed after). --code DIR runs another checkout's code (e.g. main's), so two trees
can be compared in one run on a busy machine.

    python bench/classic_cpu.py --runs 20
    python bench/classic_cpu.py --runs 20 --rootfs ~/.cache/rabta/rootfs --code /work/main
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import resource
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ivr.models import Transaction
from ivr.store import open_store

REPO = Path(__file__).resolve().parents[1]
PARTS = ("ivr", "scheduler", "surveys", "prompts/manifest.toml")
HEADERS = "agi_request: rabta-agi\nagi_channel: PJSIP/carrier-1\nagi_uniqueid: 1.1\nagi_arg_1: {}\n\n"
KEYS = "142"  # visit confirmed, rating 4, no bribe


async def prepare(db: Path, n: int) -> list[int]:
    """Write n transactions and claim them: n attempts in `dialing`, as the dialer leaves them."""
    store = await open_store(db)
    now = datetime.now(UTC)
    await store.add_transactions(
        [Transaction(office="bench", ref=f"c{i}", name="", mobile=f"+92300{i:07d}",
                     service="police", district="Lahore", official="o",
                     visited_at=now - timedelta(hours=3), language="en") for i in range(n)],
        now - timedelta(hours=1))
    attempts = await store.claim_due(now + timedelta(seconds=5), n)
    await store.close()
    return [a.id for a in attempts]


def answer(command: str, keys: list[str]) -> str:
    """Return what Asterisk answers to one AGI command in this scripted call."""
    if command.startswith("GET DATA"):
        return f"200 result={keys.pop(0) if keys else ''}"
    if command.startswith("STREAM FILE"):
        return "200 result=0 endpos=8000"
    if command.startswith("GET VARIABLE"):
        return "200 result=0"
    return "200 result=1"


def run_one(cmd: list[str], env: dict[str, str], attempt: int) -> None:
    """Run the script for one attempt, answering its commands until it hangs up."""
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd="/")
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    proc.stdin.write(HEADERS.format(attempt))
    proc.stdin.flush()
    keys = list(KEYS)
    for line in proc.stdout:
        command = line.strip()
        proc.stdin.write(answer(command, keys) + "\n")
        proc.stdin.flush()
        if command.startswith("HANGUP"):
            break
    proc.stdin.close()
    err = proc.stderr.read()
    if proc.wait() != 0:
        raise SystemExit(f"the script failed (exit {proc.returncode}): {err[-2000:]}")


def entry_args(code: Path) -> list[str]:
    """Return how the rootfs wrapper of that checkout starts Python (ivr/render.py says; older
    checkouts ran `python3 -m ivr.classic_agi`)."""
    for node in ast.parse((code / "ivr/render.py").read_text()).body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "CLASSIC_PYTHON_ARGS" for t in node.targets):
            return list(ast.literal_eval(node.value))
    return ["-m", "ivr.classic_agi"]


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main(runs: int, code: Path, root: Path | None) -> None:
    base = Path(tempfile.mkdtemp(prefix="rabta-classic-", dir=root / "tmp" if root else None))
    inside = Path("/tmp") / base.name if root else base  # the same directory, seen by the script
    try:
        app = base / "app"
        for part in PARTS:
            src = code / part
            if src.is_dir():
                shutil.copytree(src, app / part, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                (app / part).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, app / part)
        import asterisk.agi  # pyst2, copied as `rabta asterisk up` does

        shutil.copytree(Path(asterisk.agi.__file__).parent, app / "asterisk",
                        ignore=shutil.ignore_patterns("__pycache__"))
        attempts = asyncio.run(prepare(base / "rabta.db", runs + 1))
        (base / "agi.toml").write_text(
            f'database = "{inside}/rabta.db"\nhome = "{inside}"\nlog_level = "WARNING"\n'
            f"early_key_s = 0\n")  # the scripted Asterisk answers at once
        python = ["/usr/sbin/chroot", str(root), "/usr/bin/python3"] if root else [sys.executable]
        subprocess.run([*python, "-m", "compileall", "-q", f"{inside}/app"], check=True,
                       stdout=subprocess.DEVNULL)
        entry = entry_args(code)
        path = [f"{inside}/app"]
        if "-S" in entry:  # no `site`: its dist-packages on PYTHONPATH, as the wrapper does
            path.append("/usr/lib/python3/dist-packages" if root else
                        next(p for p in sys.path if p.endswith("-packages")))
        env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8", "PYTHONUTF8": "1",
               "PYTHONPATH": ":".join(path), "RABTA_CONFIG": f"{inside}/agi.toml"}
        cmd = [*python, *entry]
        run_one(cmd, env, attempts[0])  # warm the page cache
        bare0 = children_cpu()
        for _ in range(runs):
            subprocess.run([*python, "-c", "pass"], check=True, env=env)
        bare = (children_cpu() - bare0) / runs
        start = children_cpu()
        for attempt in attempts[1:]:
            run_one(cmd, env, attempt)
        per_run = (children_cpu() - start) / runs

        async def completed() -> int:
            store = await open_store(base / "rabta.db")
            rows = await store.results()
            await store.close()
            return sum(1 for r in rows if r["status"] == "completed"
                       and r["answers"] == {"visit_confirmed": "1", "rating": "4", "bribe": "2"})

        done = asyncio.run(completed())
    finally:
        shutil.rmtree(base, ignore_errors=True)
    where = f"the rootfs's Python ({root})" if root else f"this Python ({sys.version.split()[0]})"
    print(f"code: {code}; {where}; runs: {runs}, surveys completed: {done} of {runs + 1}")
    print(f"started as: python3 {' '.join(entry)}")
    print(f"classic script CPU per call: {per_run * 1000:.1f} ms "
          f"(an empty `python -c pass`: {bare * 1000:.1f} ms)")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--code", type=Path, default=REPO, help="the checkout whose code runs")
    p.add_argument("--rootfs", type=Path, help="run in this Asterisk rootfs's Python (root)")
    a = p.parse_args()
    main(a.runs, a.code.resolve(), a.rootfs.resolve() if a.rootfs else None)
