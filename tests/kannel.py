"""A real Kannel for tests and benchmarks: bearerbox, smsbox and the fake SMSC from Debian.

`Kannel(workdir, ...)` writes a kannel.conf into workdir and starts, on free loopback ports,
bearerbox (with a file store, so it keeps what it accepted across a kill -9), a fake SMSC
client (`fakesmsc` from kannel-extras) that receives every message Kannel sends and logs it,
and smsbox (sendsms for Rabta; citizens' messages posted to Rabta's inbound URL). A second
fake SMSC connection plays the citizen: `send_mo` injects one message from a phone.
Processes are stopped by PID. `received()` reads the fake SMSC's log back: UCS-2 decoded and
concatenated parts joined by their UDH reference, as a phone shows them.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote_from_bytes, unquote_to_bytes

BEARERBOX = "/usr/sbin/bearerbox"
SMSBOX = "/usr/sbin/smsbox"
FAKESMSC = "/usr/lib/kannel/test/fakesmsc"
USER, PASSWORD, ADMIN_PASSWORD = "rabta", "kannel-test-pw", "kannel-admin-pw"
_GOT = re.compile(r"Got message \d+: <(\S+) (\S+) (\S+) (.*)>$")


def free_port() -> int:
    """Return a loopback TCP port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Received:
    """One message as the fake SMSC got it (parts joined)."""

    sender: str
    to: str
    text: str
    parts: int


def _unquote(text: str) -> bytes:
    return unquote_to_bytes(text.replace("+", "%20"))


def _decode(kind: str, rest: str) -> tuple[bytes | None, str]:
    """Return (UDH bytes or None, text) of one fakesmsc log entry."""
    if kind == "text":
        return None, rest  # fakesmsc prints 7-bit text as it is
    if kind == "ucs-2":  # URL-encoded UTF-16BE; a space byte (0x20) is written as '+'
        return None, _unquote(rest).decode("utf-16-be")
    if kind == "udh":  # "<udh> data <payload>", both URL-encoded
        udh_q, _, data_q = rest.partition(" data ")
        udh, data = _unquote(udh_q), _unquote(data_q)
        try:
            return udh, data.decode("utf-16-be")
        except UnicodeDecodeError:
            return udh, data.decode("latin-1")
    return None, unquote_to_bytes(rest).decode("latin-1")


class Kannel:
    """bearerbox + smsbox + fake SMSC in one directory; start(), stop(), kill_bearerbox()."""

    def __init__(self, workdir: Path, *, inbound_url: str, max_parts: int = 6) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.inbound_url = inbound_url  # where smsbox posts citizens' messages
        self.max_parts = max_parts
        self.admin_port, self.box_port = free_port(), free_port()
        self.smsc_port, self.mo_port, self.sendsms_port = free_port(), free_port(), free_port()
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.conf = self.dir / "kannel.conf"
        self.smsc_log = self.dir / "fakesmsc.log"
        self.conf.write_text(self.config())

    @property
    def sendsms_url(self) -> str:
        return f"http://127.0.0.1:{self.sendsms_port}/cgi-bin/sendsms"

    def config(self) -> str:
        """Return kannel.conf: the same groups a deployment uses (docs/SMS.md), fake SMSCs."""
        d = self.dir
        return f"""group = core
admin-port = {self.admin_port}
admin-interface = 127.0.0.1
admin-password = {ADMIN_PASSWORD}
smsbox-port = {self.box_port}
box-allow-ip = 127.0.0.1
log-file = "{d}/bearerbox.log"
log-level = 1
store-type = file
store-location = "{d}/kannel.store"
dlr-storage = internal

# The operator's SMSC: every message Rabta sends goes here.
group = smsc
smsc = fake
smsc-id = operator
port = {self.smsc_port}
connect-allow-ip = 127.0.0.1

# Citizens' phones: only sends messages in (nothing routed out: allowed-smsc-id).
group = smsc
smsc = fake
smsc-id = phones
allowed-smsc-id = phones
port = {self.mo_port}
connect-allow-ip = 127.0.0.1

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {self.box_port}
sendsms-port = {self.sendsms_port}
sendsms-interface = 127.0.0.1
log-file = "{d}/smsbox.log"
log-level = 1
mo-recode = true

group = sendsms-user
username = {USER}
password = {PASSWORD}
max-messages = {self.max_parts}
concatenation = true

group = sms-service
keyword = default
catch-all = true
post-url = "{self.inbound_url}"
max-messages = 0
"""

    def _spawn(self, name: str, args: list[str], log: Path) -> None:
        out = log.open("ab")
        self.procs[name] = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        out.close()

    def _status(self) -> str:
        url = f"http://127.0.0.1:{self.admin_port}/status.txt?password={ADMIN_PASSWORD}"
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def _wait(self, what: str, ok: object, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ok():  # type: ignore[operator]
                return
            for name, p in self.procs.items():
                if p.poll() is not None and name != "mo":
                    raise RuntimeError(f"Kannel {name} exited ({p.returncode}) waiting for {what}; "
                                       f"see {self.dir}")
            time.sleep(0.1)
        raise RuntimeError(f"Kannel: no {what} within {timeout:.0f} s; see {self.dir}")

    def start(self) -> None:
        """Start bearerbox, the fake SMSC and smsbox; return when sendsms takes messages."""
        self._spawn("bearerbox", [BEARERBOX, "-v", "1", str(self.conf)], self.dir / "bb.out")
        self._wait("bearerbox admin port", lambda: "Status:" in self._status())
        self._spawn("fakesmsc", [FAKESMSC, "-H", "127.0.0.1", "-r", str(self.smsc_port),
                                 "-i", "1", "-m", "0", "1 2 text unused"], self.smsc_log)
        self._spawn("smsbox", [SMSBOX, "-v", "1", str(self.conf)], self.dir / "smsbox.out")
        try:
            self._wait("fake SMSC online", lambda: re.search(
                r"operator\[operator\]\s+FAKE:\d+ \(online", self._status()) is not None)
            self._wait("smsbox connected", lambda: "smsbox:" in self._status())
            self._wait("sendsms port", self._sendsms_listening)
        except BaseException:
            self.stop()
            raise

    def _sendsms_listening(self) -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.sendsms_port)) == 0

    def _stop(self, name: str, sig: int = signal.SIGTERM) -> None:
        p = self.procs.pop(name, None)
        if p is None or p.poll() is not None:
            return
        p.send_signal(sig)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

    def stop(self) -> None:
        """Stop every process this harness started (smsbox first), by PID."""
        for name in ("mo", "smsbox", "fakesmsc", "bearerbox"):
            self._stop(name)

    def kill_bearerbox(self) -> None:
        """kill -9 bearerbox, as a crash would; smsbox and the fake SMSC lose it and exit."""
        self._stop("bearerbox", signal.SIGKILL)
        for name in ("smsbox", "fakesmsc"):
            p = self.procs.get(name)
            if p is not None:
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._stop(name)
            self.procs.pop(name, None)

    def send_mo(self, sender: str, text: str, timeout: float = 10.0) -> None:
        """Send one message from a citizen's phone (digits, no +) to the short code."""
        payload = quote_from_bytes(text.encode("utf-16-be"), safe="")
        log = self.dir / "mo.log"
        before = log.read_text().count("sent message") if log.exists() else 0
        self._spawn("mo", [FAKESMSC, "-H", "127.0.0.1", "-r", str(self.mo_port), "-i", "0.01",
                           "-m", "1", f"{sender} 8080 ucs2 {payload}"], log)
        deadline = time.monotonic() + timeout
        while log.read_text().count("sent message") <= before:
            if time.monotonic() > deadline:
                raise RuntimeError(f"fakesmsc did not send the message; see {log}")
            time.sleep(0.05)
        time.sleep(0.2)  # let bearerbox read it before the connection goes
        self._stop("mo")

    def received(self) -> list[Received]:
        """Return every message the operator's fake SMSC got, parts joined, in order."""
        if not self.smsc_log.exists():
            return []
        out: list[Received] = []
        pending: dict[tuple[str, str, int], dict[int, str]] = {}
        for line in self.smsc_log.read_text(errors="replace").splitlines():
            m = _GOT.search(line)
            if not m:
                continue
            sender, to, kind, rest = m.groups()
            udh, body = _decode(kind, rest)
            if udh is not None and len(udh) >= 6 and udh[1] == 0x00:  # 8-bit concat IE
                ref, total, seq = udh[3], udh[4], udh[5]
                got = pending.setdefault((sender, to, ref), {})
                got[seq] = body
                if len(got) == total:
                    text = "".join(got[i] for i in range(1, total + 1))
                    out.append(Received(sender, to, text, total))
                    del pending[(sender, to, ref)]
                continue
            out.append(Received(sender, to, body, 1))
        return out

    def wait_received(self, count: int, timeout: float = 20.0) -> list[Received]:
        """Wait until the fake SMSC got at least `count` messages; return them all."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.received()
            if len(got) >= count or time.monotonic() > deadline:
                return got
            time.sleep(0.1)
