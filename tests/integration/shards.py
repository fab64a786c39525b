"""Split the integration tier into shards that `make test` runs side by side (pure, no I/O).

`RABTA_TEST_SHARD=i/n` runs shard i of n; `RABTA_TEST_SHARD=last` runs the files that change what every
node on the machine shares (the rootfs's sounds directory), after the shards are done; unset,
everything runs. Files are dealt longest first to the shard that would finish first (LPT),
from the seconds each took in `make test`; a shard may start late (the second shard waits for
the unit, protocol and browser tiers), which its head start counts. A new file with no figure
weighs `NEW_FILE_S` until its time is added here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

# Seconds per file in `make test` (its --durations output), 2026-12-02 and 2026-12-03.
SECONDS: Mapping[str, float] = {
    "test_workers_pg.py": 135, "test_surveys_e2e.py": 300, "test_two_nodes.py": 270,
    "test_classic_agi.py": 260, "test_faults.py": 260, "test_pg_restart_live.py": 60,
    "test_e2e_survey.py": 170, "test_admission_real.py": 165, "test_trunk_auth.py": 135,
    "test_trunk_routing.py": 130, "test_sms_closed_loop.py": 115,
    "test_docker_podman.py": 600, "test_cluster_kill.py": 160, "test_trunk_tls.py": 90,
}
NEW_FILE_S = 40.0
# Files that change what all nodes in the rootfs share: they run alone, after the shards.
EXCLUSIVE = frozenset({"test_missing_prompt.py"})
# The second shard starts once the unit, protocol and browser tiers are done (about 12 min).
HEAD_START = (0.0, 720.0)


def parse(spec: str) -> tuple[int, int] | str:
    """Read RABTA_TEST_SHARD: ``"i/n"`` as (i, n) with 1 <= i <= n, or ``"last"``; else ValueError."""
    if spec == "last":
        return spec
    i, sep, n = spec.partition("/")
    if not (sep and i.isdigit() and n.isdigit() and 1 <= int(i) <= int(n)):
        raise ValueError(f"RABTA_TEST_SHARD: expected i/n (1 <= i <= n) or 'last', got {spec!r}")
    return int(i), int(n)


def assign(files: Sequence[str], n: int,
           head_start: Sequence[float] = HEAD_START) -> list[list[str]]:
    """Deal the files (bare names) to n shards, longest first, each to the least loaded."""
    load = [head_start[k] if k < len(head_start) else 0.0 for k in range(n)]
    shards: list[list[str]] = [[] for _ in range(n)]
    for name in sorted(set(files), key=lambda f: (-SECONDS.get(f, NEW_FILE_S), f)):
        k = min(range(n), key=lambda j: (load[j], j))
        shards[k].append(name)
        load[k] += SECONDS.get(name, NEW_FILE_S)
    return shards


def selected(files: Sequence[str], spec: str) -> set[str]:
    """Return which of the files (bare names) the shard named by ``spec`` runs."""
    which = parse(spec)
    if which == "last":
        return {f for f in files if f in EXCLUSIVE}
    assert isinstance(which, tuple)
    i, n = which
    return set(assign([f for f in files if f not in EXCLUSIVE], n)[i - 1])
