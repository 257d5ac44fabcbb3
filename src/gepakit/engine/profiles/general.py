"""The general reflection profile: for capable reflection models (the default).

The proposer is `gepakit.engine.reflection.ReflectiveProposer` itself. Defaults:

- prompt: `gepakit.engine.prompts.DEFAULT_TEMPLATE`: the current text and the
  examples (inputs, outputs, feedback); the LM is asked to infer the task and the
  input format, gather the domain facts, constraints and strategies the feedback
  reveals (keeping what the current text does right) and write complete,
  self-contained instructions. No answer shape, no word limit (``max_text_chars``
  sets a budget that is stated and enforced);
- examples: each input, output and feedback shown up to 5000 characters; images
  sent as image parts to LM objects, as ``[image N: ...]`` placeholders to plain
  ``prompt -> str`` functions;
- reply: the fenced block (or the whole reply), ``<think>`` reasoning removed;
  rejected with a reason when empty, cut off (``finish_reason == "length"``, or
  ended inside ``<think>``), unchanged, a repetition loop, code or JSON. The text
  is never rewritten;
- sampling: the LM's own settings and ``reflection_lm_kwargs``; nothing is forced.
"""

from __future__ import annotations

from gepakit.engine.reflection import ReflectiveProposer

GeneralProposer = ReflectiveProposer
"""The general profile's proposer."""

__all__ = ["GeneralProposer"]
