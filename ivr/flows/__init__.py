"""Flows: survey definitions and the runner that walks them over a Channel. Never sees AGI text."""
