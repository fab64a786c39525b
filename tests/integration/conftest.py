"""Integration tier: a real Asterisk 22 PBX and a real carrier simulator (a second Asterisk),
real SIP, RTP and RFC 4733 DTMF over loopback. If Asterisk cannot start, these tests FAIL:
they never skip. The node uses its own ports and names, so a running demo is not disturbed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import shards
from support import TEST_NODE

from ivr import cli
from ivr.config import Settings, load_settings, replace


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in str(item.path):
            item.add_marker(pytest.mark.integration)
    spec = os.environ.get("RABTA_TEST_SHARD", "")
    if not spec:
        return
    try:
        keep = shards.selected([i.path.name for i in items if "integration" in str(i.path)], spec)
    except ValueError as e:
        raise pytest.UsageError(str(e)) from None
    kept = [i for i in items if "integration" not in str(i.path) or i.path.name in keep]
    dropped = [i for i in items if i not in kept]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(scope="session")
def node_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Start the test node's PBX and carrier simulator once per session (fail loudly)."""
    if os.geteuid() != 0:
        pytest.fail("integration tests need root (chroot + mount); run them via `make test`")
    home = tmp_path_factory.mktemp("rabta-home")
    env = {k: v for k, v in os.environ.items() if k == "RABTA_CACHE"}
    settings = load_settings(env=env, overrides={**TEST_NODE, "home": str(home)})
    cli.asterisk_up(settings, quiet=True)  # raises AsteriskSetupError: the test fails, loudly
    try:
        yield settings
    finally:
        cli.asterisk_down(settings, quiet=True)


@pytest.fixture
def second_node(node_settings: Settings) -> Iterator[Settings]:
    """A second PBX + carrier on other ports, sending its calls to the same FastAGI port."""
    shift = node_settings.sip_port - 5160  # RABTA_TEST_SLOT moves both nodes
    other = replace(node_settings, node=f"{node_settings.node}-b", sip_port=5460 + shift,
                    carrier_sip_port=5470 + shift, ami_port=5438 + shift, rtp_start=50000)
    cli.asterisk_up(other, quiet=True)
    try:
        yield other
    finally:
        cli.asterisk_down(other, quiet=True)
