"""`rabta doctor` on the running lab node: a clean node has no high finding.

The unit tier audits a rendered lab config with every prompt taken as present and no node
asked (tests/unit/test_doctor.py); here the audit reads the running test node's own files in
the rootfs, looks each prompt up in its sounds, and asks its AMI, as `rabta doctor` does.
"""

from __future__ import annotations

import argparse
import io
import json

from ivr.cli import doctor as cli_doctor
from ivr.config import Settings
from ivr.dialplan_check import HIGH


def test_a_clean_running_lab_node_has_no_high_finding(node_settings: Settings) -> None:
    out = io.StringIO()
    args = argparse.Namespace(etc=[], sounds=None, json=True)
    rc = cli_doctor.do_doctor(node_settings, args, out)
    findings = json.loads(out.getvalue())
    assert [f for f in findings if f["severity"] == HIGH] == [], findings
    assert rc == 0
    # It did audit the running node: its AMI answered (else a finding says it does not).
    assert not [f for f in findings if "does not answer" in f["finding"]], findings
