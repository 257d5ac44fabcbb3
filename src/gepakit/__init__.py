"""gepakit: optimize the text of LLM systems with GEPA."""
