"""GEPA (Agrawal et al., 2025, "GEPA: Reflective Prompt Evolution Can Outperform Reinforcement
Learning") as another optimizer method beside the GPO loop, driven through the ``gepa`` package.

The package's engine is used as a library (``gepa.optimize`` with an adapter): this project's
scorer answers and grades (``adapter``), the run's optimizer model reflects (``reflection``), and
the task's recorder writes the run folder every method writes (``run``). ``settings`` holds the
GEPA options this project sets and imports no ``gepa``, so ``import gpo`` works without it.
"""
