"""Tests of gepakit.engine."""
