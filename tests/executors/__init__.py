"""Tests of gepakit.executors."""
