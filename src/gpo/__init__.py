"""GPO: gradient-inspired LLM prompt optimization (Tang et al., arXiv 2402.17564).

Importing this package is cheap: heavy backends (torch, vllm, xllamacpp) load lazily.
"""

__version__ = "0.1.0"
