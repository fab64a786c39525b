"""The lab: Rabta's own Asterisk node in a Debian rootfs (provisioning) and its carrier simulator.

Nothing outside the lab depends on it but the entry points (`rabta asterisk up|down|status`,
the engine's lab AMI secret, tests and benchmarks); the protocol layer (ivr.asterisk) never does.
"""
