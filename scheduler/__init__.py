"""The dialer process: pure policy, the dial loop and reconciliation."""
