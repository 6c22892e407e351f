"""Evaluations behind ``mmcrew eval``: they print measured figures and save them as JSON."""
