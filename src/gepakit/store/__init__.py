"""Run stores: `memory.MemoryStore` (no persistence) and `sqlite.SQLiteStore` (run_dir).

Import the implementation modules directly; this package imports nothing so that
``import gepakit`` stays light.
"""
