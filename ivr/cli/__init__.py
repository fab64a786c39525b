"""The `rabta` command, one module per command group (see docs/ARCHITECTURE.md).

    entry.py       the parser, settings, logging, dispatch (set_defaults(func=...))
    common.py      exit codes, add_command (help, description, examples), serving the web
    progress.py    the progress bar        logs.py   text/JSON log lines
    asterisk.py    asterisk up|down|status data.py   import, report, export
    serve.py       run, web, serve         status.py status
    dnc.py         dnc                     users.py  users, apikeys
    survey.py      survey check            prompts.py prompts build|check
    demo.py        demo                    completion.py  completion bash|zsh|tcsh

Wiring happens here and in ivr.engine, nowhere else. The names below are re-exported so
`from ivr import cli; cli.do_import(...)` keeps working.
"""

from __future__ import annotations

from ivr.cli.asterisk import asterisk_down, asterisk_status, asterisk_up
from ivr.cli.data import EXPORT_FIELDS, do_export, do_import, do_report
from ivr.cli.demo import demo_settings
from ivr.cli.dnc import do_dnc
from ivr.cli.entry import build_parser, main
from ivr.cli.logs import JSONFormatter
from ivr.cli.progress import Progress
from ivr.cli.serve import do_run, do_web
from ivr.cli.status import do_status

__all__ = [
    "EXPORT_FIELDS", "JSONFormatter", "Progress", "asterisk_down", "asterisk_status",
    "asterisk_up", "build_parser", "demo_settings", "do_dnc", "do_export", "do_import",
    "do_report", "do_run", "do_status", "do_web", "main",
]
