"""Entry point: the `rabta` command. Wiring happens here and in ivr.engine, nowhere else."""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ivr import __version__, audio, cli_prompts, cli_survey, cli_users, intake, phone, reports, simulator
from ivr.asterisk import rootfs
from ivr.config import Settings, load_settings, replace, trunk_rules
from ivr.errors import InputError, RabtaError
from ivr.store import open_store
from scheduler import policy

log = logging.getLogger("rabta")
REPO_ROOT = Path(__file__).resolve().parents[1]
DEMO_DIR = REPO_ROOT / "demo"


# ---------------------------------------------------------------------------- helpers


class JSONFormatter(logging.Formatter):
    """One JSON object per line, for log shippers: time (UTC), level, logger, message."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def _setup_logging(level: str, fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JSONFormatter())
    else:
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)-7s %(name)s: %(message)s", datefmt="%H:%M:%S"))
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO),
                        handlers=[handler])
    logging.getLogger("panoramisk").setLevel(logging.WARNING)


def _now() -> datetime:
    return datetime.now(UTC)


class Progress:
    """A one-line progress bar on a terminal; periodic plain lines otherwise."""

    def __init__(self, total: int, label: str, stream: Any = None) -> None:
        self.total = max(total, 1)
        self.label = label
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self._last = 0.0

    def update(self, done: int, detail: str = "", force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < (0.2 if self.tty else 5.0):
            return
        self._last = now
        width = 30
        filled = int(width * min(done, self.total) / self.total)
        bar = "#" * filled + "." * (width - filled)
        line = f"{self.label} [{bar}] {done}/{self.total} {detail}"
        if self.tty:
            self.stream.write("\r" + line.ljust(100)[:120])
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")


# ---------------------------------------------------------------------------- asterisk


def _install_phonebook(settings: Settings, node: rootfs.Node, path: Path | None) -> int:
    if path is None:
        return 0
    citizens = simulator.load_phonebook(path)
    rootfs.install_phonebook(node.carrier, simulator.render_dialplan(citizens))
    return len(citizens)


def asterisk_up(settings: Settings, phonebook: Path | None = None, quiet: bool = False) -> bool:
    """Build the rootfs if needed, install prompts and configs, start PBX + carrier simulator.

    Return True if this call started the instances (False: they were already running).
    """
    def say(message: str) -> None:
        if not quiet:
            print(message, file=sys.stderr)

    if not rootfs.rootfs_ready(settings.rootfs):
        say(f"Building the Asterisk 22 rootfs in {settings.rootfs} (once, about a minute)...")
        rootfs.build_rootfs(settings.rootfs)
    prompts = audio.load_manifest()
    bar = None if quiet else Progress(len(prompts), "prompts")
    built = audio.build(settings.cache / "prompts", prompts,
                        progress=(lambda n, t, p: bar.update(n, p.id, force=n == t)) if bar else None)
    if bar:
        bar.close()
    audio.install(built, lambda lang: rootfs.sounds_dir(settings.rootfs, lang))
    node = rootfs.node_for(settings)
    for inst in node.instances:
        rootfs.render_instance(settings, inst)
    if settings.agi_transport == "classic":
        say("classic AGI: installing the survey script in the rootfs...")
        rootfs.install_classic_agi(settings, node.pbx)
    n = _install_phonebook(settings, node, phonebook or settings.phonebook)
    started = False
    for inst in node.instances:
        was = rootfs.pid_of(inst)
        pid = rootfs.start(inst)
        started = started or was is None
        if was is not None:
            rootfs.cli(inst, "core reload")  # picks up re-rendered configs; calls go on
        say(f"{inst.name}: {'running' if was else 'started'} (pid {pid}, "
            f"SIP 127.0.0.1:{inst.sip_port})")
    if n:
        say(f"carrier simulator: {n} citizen(s) from the phone book")
    say(f"AMI on {settings.ami_host}:{settings.ami_port} "
        f"({'answering' if rootfs.ami_answers(settings) else 'NOT answering'})")
    return started


def asterisk_down(settings: Settings, quiet: bool = False) -> None:
    """Stop both instances by PID and release the rootfs mounts."""
    node = rootfs.node_for(settings)
    for inst in node.instances:
        stopped = rootfs.stop(inst)
        if not quiet:
            print(f"{inst.name}: {'stopped' if stopped else 'not running'}", file=sys.stderr)
    if settings.agi_transport == "classic":
        rootfs.unbind_database(settings)  # the classic AGI's view of the database
    rootfs.release_rootfs(settings.rootfs)


def asterisk_status(settings: Settings) -> int:
    node = rootfs.node_for(settings)
    ok = True
    print(f"rootfs: {settings.rootfs} ({'ready' if rootfs.rootfs_ready(settings.rootfs) else 'not built'})")
    for inst in node.instances:
        pid = rootfs.pid_of(inst)
        if pid is None:
            ok = False
            print(f"{inst.name}: stopped")
            continue
        version = rootfs.cli(inst, "core show version").split(" built")[0].strip()
        print(f"{inst.name}: running, pid {pid}, SIP 127.0.0.1:{inst.sip_port}, {version}")
    ami = rootfs.ami_answers(settings)
    ok = ok and ami
    print(f"AMI {settings.ami_host}:{settings.ami_port}: {'answering' if ami else 'not answering'}")
    return 0 if ok else 3


# ---------------------------------------------------------------------------- data


async def do_import(settings: Settings, path: Path, out: Any = None) -> int:
    """Import a transactions CSV: keep good rows, report bad ones with line and reason."""
    out = out or sys.stdout
    try:
        with path.open("rb") as f:  # bytes: exact line numbers even for undecodable lines
            txs, errors = intake.parse_transactions_csv(f, source=str(path),
                                                         default_tz=settings.timezone)
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror}") from None
    store = await open_store(settings.db_url)
    try:
        inserted, known = await store.add_transactions(
            txs, _now(), lambda t: policy.first_try_at(t.visited_at, settings.first_call_delay))
    finally:
        await store.close()
    if errors:
        print(intake.format_errors(errors, str(path)), file=sys.stderr)
    rejected = sum(1 for _line, field, _why in errors if field != "header")
    print(f"{path}: {inserted} imported, {known} already known, {rejected} rejected",
          file=out)
    return 0 if not rejected else 2


async def do_run(settings: Settings, *, until_idle: bool, show_progress: bool = True,
                 serve_web: bool = False) -> int:
    """Run the engine (FastAGI + dialer) until idle or interrupted."""
    from ivr.engine import Engine  # imported here: only commands that dial need the stack

    store = await open_store(settings.db_url)
    counts = await store.status_counts()
    total = sum(counts.values())
    bar = Progress(total, "calls") if show_progress and total else None
    final = ("completed", "partial", "unreachable", "opted_out", "expired")
    state = {"t": 0.0}

    def progress(dialer: Any) -> None:
        if bar is None or time.monotonic() - state["t"] < 1.0:
            return
        state["t"] = time.monotonic()
        asyncio.get_running_loop().create_task(_refresh(dialer))

    async def _refresh(dialer: Any) -> None:
        c = await store.status_counts()
        done = sum(c.get(s, 0) for s in final)
        assert bar is not None
        bar.update(done, f"done · {dialer.calls.in_flight} on the line · "
                         f"{c.get('scheduled', 0)} to retry")

    engine = Engine(settings, store, progress=progress)
    runner = None
    try:
        await engine.start()
        if serve_web:
            from aiohttp import web

            from ivr.web.app import create_app

            runner = web.AppRunner(create_app(settings, store, engine))
            await runner.setup()
            await web.TCPSite(runner, settings.web_host, settings.web_port).start()
            log.info("web on http://%s:%d (/login, /api/v1, /metrics, /healthz)", settings.web_host,
                     settings.web_port)
        await engine.dialer.run(until_idle=until_idle)
    finally:
        if runner is not None:
            await runner.cleanup()
        await engine.close()
        if bar:
            c = await store.status_counts()
            bar.update(sum(c.get(s, 0) for s in final), "done", force=True)
            bar.close()
        await store.close()
    return 0


async def do_web(settings: Settings, stop: asyncio.Event | None = None) -> int:
    """Serve the dashboard and API alone (no engine) until interrupted or `stop` is set."""
    from aiohttp import web

    from ivr.web.app import create_app

    store = await open_store(settings.db_url)
    runner = web.AppRunner(create_app(settings, store))
    try:
        await runner.setup()
        await web.TCPSite(runner, settings.web_host, settings.web_port).start()
        log.info("web on http://%s:%d (/login, /cases, /api/v1); no engine", settings.web_host,
                 settings.web_port)
        await (stop or asyncio.Event()).wait()
    finally:
        await runner.cleanup()
        await store.close()
    return 0


async def _results(settings: Settings) -> list[dict[str, Any]]:
    store = await open_store(settings.db_url)
    try:
        return await store.results()
    finally:
        await store.close()


async def do_report(settings: Settings, by: str, fmt: str, out: Any = None) -> int:
    out = out or sys.stdout
    rows = reports.summarize(await _results(settings), by)
    text = reports.render(rows, fmt, by=by)
    out.write(text if text.endswith("\n") else text + "\n")
    return 0


EXPORT_FIELDS = ("office", "ref", "status", "attempts", "last_outcome", "answers", "district",
                 "service", "official", "visited_at", "language", "closed_reason",
                 "selection_probability")


async def do_export(settings: Settings, fmt: str, out: Any = None) -> int:
    out = out or sys.stdout
    rows = await _results(settings)
    if fmt == "jsonl":
        for r in rows:
            out.write(json.dumps({k: r.get(k) for k in EXPORT_FIELDS}, ensure_ascii=False) + "\n")
    else:
        w = csv.writer(out, lineterminator="\n")
        w.writerow(EXPORT_FIELDS)
        for r in rows:
            w.writerow([json.dumps(r[k], ensure_ascii=False, sort_keys=True) if k == "answers"
                        else ("" if r.get(k) is None else r[k]) for k in EXPORT_FIELDS])
    return 0


async def do_status(settings: Settings, as_json: bool, out: Any = None) -> int:
    """Show live state: waiting, due, on the line per node, today's outcomes, AMI health."""
    out = out or sys.stdout
    zone = ZoneInfo(settings.timezone)
    now = _now()
    day_start = datetime.now(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    store = await open_store(settings.db_url)
    try:
        summary = await store.live_summary(now, day_start)
    finally:
        await store.close()
    summary["ami_answering"] = rootfs.ami_answers(settings)
    summary["calling_window"] = settings.calling_window
    summary["max_concurrent"] = settings.max_concurrent
    summary["nodes"] = {name: {"in_flight": summary["in_flight_by_node"].get(name, 0),
                               "capacity": settings.max_concurrent}
                        for name, _, _ in settings.pbx_nodes()}
    trunks, _ = trunk_rules(settings)
    summary["trunks"] = {t.name: {"in_flight": summary["in_flight_by_trunk"].get(t.name, 0),
                                  "capacity": t.channels, "cps": t.cps,
                                  "attempts_today": summary["attempts_today_by_trunk"].get(t.name, 0)}
                         for t in trunks}
    if as_json:
        out.write(json.dumps(summary, indent=2, sort_keys=True) + "\n")
        return 0
    statuses = summary["statuses"]
    total = sum(statuses.values())
    final = sum(statuses.get(k, 0) for k in
                ("completed", "partial", "unreachable", "opted_out", "expired"))
    print(f"transactions: {total}   done {final}   waiting {summary['waiting']} "
          f"(due now {summary['due_now']})", file=out)
    width = 30
    for name in ("completed", "partial", "unreachable", "opted_out", "expired", "pending",
                 "scheduled", "dialing", "in_call"):
        n = statuses.get(name, 0)
        bar = "#" * (round(width * n / total) if total else 0)
        print(f"  {name:<12} {bar:<{width}} {n}", file=out)
    on_line = sum(summary["in_flight_by_node"].values())
    print(f"on the line: {on_line}", file=out)
    for kind in ("nodes", "trunks"):
        for name, u in summary[kind].items():
            used = round(width * min(1.0, u["in_flight"] / u["capacity"]))
            print(f"  {kind[:-1]} {name:<14} [{'#' * used:<{width}}] "
                  f"{u['in_flight']}/{u['capacity']}"
                  + (f"  ({u['attempts_today']} calls today)" if kind == "trunks" else ""),
                  file=out)
    today = ", ".join(f"{k} {v}" for k, v in sorted(summary["attempts_today"].items())) or "none"
    print(f"calls today: {today}", file=out)
    print(f"AMI {settings.ami_host}:{settings.ami_port}: "
          f"{'answering' if summary['ami_answering'] else 'NOT answering'}", file=out)
    return 0


async def do_dnc(settings: Settings, action: str, numbers: list[str], note: str,
                 out: Any = None) -> int:
    """Manage the do-not-call list: add, remove, list, import a CSV register."""
    out = out or sys.stdout
    store = await open_store(settings.db_url)
    try:
        if action == "list":
            for row in await store.dnc_list():
                print(f"{phone.mask(row['number'])}\t{row['source']}\t{row['added_at']}\t"
                      f"{row['note']}", file=out)
            return 0
        if action == "import":
            good, bad = _read_numbers(Path(numbers[0]))
            for line, raw, why in bad:
                print(f"{numbers[0]}:{line}: number: {why} ({phone.mask(raw)!r})",
                      file=sys.stderr)
            added = await store.dnc_add(good, "import", _now(), note)
            print(f"{numbers[0]}: {added} added, {len(good) - added} already listed, "
                  f"{len(bad)} rejected", file=out)
            return 2 if bad else 0
        valid = []
        for raw in numbers:
            try:
                valid.append(phone.normalize(raw))
            except InputError as exc:
                raise InputError(f"{phone.mask(raw)}: {exc}") from None
        if action == "add":
            added = await store.dnc_add(valid, "admin", _now(), note)
            print(f"{added} added, {len(valid) - added} already listed", file=out)
        else:
            removed = [n for n in valid if await store.dnc_remove(n)]
            print(f"{len(removed)} removed", file=out)
        return 0
    finally:
        await store.close()


def _read_numbers(path: Path) -> tuple[list[str], list[tuple[int, str, str]]]:
    """Read a DNC register: a CSV with a `number` column, or one number per line."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from None
    rows = list(csv.reader(io.StringIO(text)))
    col, start = 0, 0
    if rows and "number" in [c.strip().lower() for c in rows[0]]:
        col, start = [c.strip().lower() for c in rows[0]].index("number"), 1
    good, bad = [], []
    for i, row in enumerate(rows[start:], start + 1):
        if not row or not "".join(row).strip():
            continue
        raw = row[col] if col < len(row) else ""
        try:
            good.append(phone.normalize(raw))
        except InputError as exc:
            bad.append((i, raw, str(exc)))
    return good, bad


# ---------------------------------------------------------------------------- demo


async def _demo(settings: Settings) -> int:
    print("== Rabta demo: a real Asterisk calls simulated citizens over SIP ==", file=sys.stderr)
    started = asterisk_up(settings, DEMO_DIR / "phonebook.csv")
    try:
        if settings.db_path.exists():
            for suffix in ("", "-wal", "-shm"):
                Path(f"{settings.db_path}{suffix}").unlink(missing_ok=True)
        await do_import(settings, _demo_transactions(settings.home / "demo-transactions.csv"),
                        out=sys.stderr)
        t0 = time.monotonic()
        await do_run(settings, until_idle=True)
        print(f"\nAll calls done in {time.monotonic() - t0:.0f} s.\n")
        print("Results by district:\n")
        await do_report(settings, "district", "table")
        print(f"\nThe data lives in {settings.db_path}")
        print(f"Try: rabta --database {settings.db_path} report --by service")
        print(f"     rabta --database {settings.db_path} export --format csv")
    finally:
        if started:  # leave a PBX the operator started alone
            asterisk_down(settings)
    return 0


def demo_settings(settings: Settings) -> Settings:
    """The demo's own database and short timers, so it finishes in a few minutes."""
    return replace(settings, database=str(settings.home / "demo.db"), database_url="",
                   calling_window="00:00-24:00", quiet_periods=(), blocked_dates=(),
                   retry_delay=3.0, retry_delays=(), callback_delay=3.0, ring_timeout=10.0,
                   first_call_delay=0.0)


def _demo_transactions(dest: Path) -> Path:
    """Copy the bundled transactions with visits moved to three hours ago, so none is stale."""
    rows = list(csv.reader((DEMO_DIR / "transactions.csv").open(encoding="utf-8")))
    base = datetime.now(ZoneInfo("Asia/Karachi")).replace(microsecond=0) - timedelta(hours=3)
    col = rows[0].index("visited_at")
    for i, row in enumerate(rows[1:]):
        row[col] = (base - timedelta(minutes=7 * i)).replace(tzinfo=None).isoformat()
    dest.parent.mkdir(parents=True, exist_ok=True)
    with dest.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)
    return dest


# ---------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="rabta",
        description="Rabta calls citizens after a government service, asks how it went and "
                    "whether anyone asked for a bribe, and stores their key presses.",
        epilog="Every setting can also be given as RABTA_<KEY> or in rabta.toml "
               "(see rabta.toml.example). Docs: docs/OPERATIONS.md.")
    p.add_argument("--version", action="version", version=f"rabta {__version__}")
    p.add_argument("--config", type=Path, help="TOML config file (default: ./rabta.toml if present)")
    p.add_argument("--home", help="data dir: database, logs (default ~/.local/share/rabta)")
    p.add_argument("--database", help="SQLite file (default <home>/rabta.db)")
    p.add_argument("--log-level", help="DEBUG, INFO, WARNING (default INFO)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    a = sub.add_parser("asterisk", help="start, stop or inspect the local PBX and carrier simulator")
    a.add_argument("action", choices=["up", "down", "status"])
    a.add_argument("--phonebook", type=Path,
                   help="carrier simulator phone book CSV (or RABTA_PHONEBOOK); "
                        "`up` again reloads it without a restart")

    i = sub.add_parser("import", help="import a transactions CSV (bad rows reported, good rows kept)")
    i.add_argument("file", type=Path)

    r = sub.add_parser("run", help="run the engine: FastAGI + dialer")
    r.add_argument("--until-idle", action="store_true",
                   help="exit when nothing is pending, scheduled or on the line")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")

    sub.add_parser("web", help="serve only the officials' dashboard and API (no engine: no "
                               "calls are placed; click-to-call needs `serve`)")
    sub.add_parser("serve", help="run the engine continuously with /metrics and /healthz "
                                 "on web_host:web_port (Ctrl-C to stop)")

    rep = sub.add_parser("report", help="results per district, service, office or official")
    rep.add_argument("--by", choices=reports.GROUP_BY, default="district")
    rep.add_argument("--format", choices=["table", "csv", "json"], default="table")

    e = sub.add_parser("export", help="one row per transaction with its answers")
    e.add_argument("--format", choices=["csv", "jsonl"], default="csv")
    e.add_argument("--output", "-o", type=Path, help="file to write (default: stdout)")

    st = sub.add_parser("status", help="live state: waiting, due, on the line, today's calls")
    st.add_argument("--json", action="store_true", help="machine-readable")

    d = sub.add_parser("dnc", help="the do-not-call list (checked at dial time)")
    d.add_argument("action", choices=["add", "remove", "list", "import"])
    d.add_argument("numbers", nargs="*", help="numbers (add/remove) or one CSV file (import)")
    d.add_argument("--note", default="", help="why (kept with the entry)")

    cli_users.add_parsers(sub)  # users, apikeys
    cli_survey.add_parser(sub)  # survey check
    cli_prompts.add_parser(sub)  # prompts build | check
    from ivr import cli_db  # db migrate | status | copy
    cli_db.register(sub)
    sub.add_parser("demo", help="everything on the embedded default: Asterisk, calls, report")
    return p


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # SIGTERM stops as Ctrl-C does: finally blocks run, PBX stopped


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    overrides = {"home": args.home, "database": args.database, "log_level": args.log_level}
    if getattr(args, "phonebook", None):
        overrides["phonebook"] = str(args.phonebook)
    try:
        settings = load_settings(args.config, overrides=overrides)
        _setup_logging(settings.log_level, settings.log_format)
        return _dispatch(args, settings)
    except RabtaError as exc:
        print(f"rabta: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rabta: interrupted; answers already given are stored", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `rabta export | head`
        sys.stderr.close()
        return 0


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    cmd = args.command
    if getattr(args, "func", None) is not None:  # commands registered with set_defaults(func)
        return int(args.func(settings, args))
    if cmd == "asterisk":
        if args.action == "up":
            asterisk_up(settings, settings.phonebook)
            return 0
        if args.action == "down":
            asterisk_down(settings)
            return 0
        return asterisk_status(settings)
    if cmd == "import":
        return asyncio.run(do_import(settings, args.file))
    if cmd == "run":
        return asyncio.run(do_run(settings, until_idle=args.until_idle,
                                  show_progress=not args.no_progress))
    if cmd == "web":
        return asyncio.run(do_web(settings))
    if cmd == "serve":
        return asyncio.run(do_run(settings, until_idle=False, show_progress=False,
                                  serve_web=True))
    if cmd == "report":
        return asyncio.run(do_report(settings, args.by, args.format))
    if cmd == "export":
        if args.output:
            buf = io.StringIO()
            asyncio.run(do_export(settings, args.format, buf))
            tmp = args.output.with_name(args.output.name + ".part")
            tmp.write_text(buf.getvalue(), encoding="utf-8")
            os.replace(tmp, args.output)  # never a half-written export
            print(f"wrote {args.output}", file=sys.stderr)
            return 0
        return asyncio.run(do_export(settings, args.format))
    if cmd == "status":
        return asyncio.run(do_status(settings, args.json))
    if cmd == "dnc":
        if args.action in ("add", "remove", "import") and not args.numbers:
            raise InputError(f"dnc {args.action}: give at least one number (or a file)")
        return asyncio.run(do_dnc(settings, args.action, args.numbers, args.note))
    if cmd in cli_users.COMMANDS:
        return asyncio.run(cli_users.run(settings, args))
    if cmd == "survey":
        return cli_survey.run(args)
    if cmd == "prompts":
        return cli_prompts.run(settings, args)
    if cmd == "demo":
        return asyncio.run(_demo(demo_settings(settings)))
    raise AssertionError(cmd)  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
