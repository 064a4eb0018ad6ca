"""LLM backends behind one batch interface (see gpo.llm.base)."""
