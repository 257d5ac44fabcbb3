"""Lazy feedback: expensive feedback computed only for the rollouts a proposal uses."""

from __future__ import annotations

from gepakit.engine.reflection import ReflectiveDataset, ReflectiveRecord


def resolve_lazy_feedback(dataset: ReflectiveDataset) -> ReflectiveDataset:
    """Call every zero-argument callable found as a record's "Feedback".

    Evaluators may give feedback lazily (a callable in the trace), so that expensive
    feedback (an LLM judge, a per-predictor metric) is computed only for rollouts a
    proposal actually reflects on. Runs on the proposer's thread. A failing callable
    becomes a feedback text naming the error.
    """
    out: ReflectiveDataset = {}
    for name, records in dataset.items():
        resolved: list[ReflectiveRecord] = []
        for rec in records:
            feedback = rec.get("Feedback")
            if callable(feedback):
                try:
                    rec = {**rec, "Feedback": feedback()}
                except Exception as exc:
                    rec = {
                        **rec,
                        "Feedback": f"(feedback unavailable: {type(exc).__name__}: {exc})",
                    }
            resolved.append(rec)
        out[name] = resolved
    return out
