"""Adapters that put zego_py rooms into agent frameworks.

Each module imports its framework itself and is importable only with the matching optional
extra installed (``zego_py.integrations.pipecat`` needs ``pip install 'zego_py[pipecat]'``),
so ``import zego_py`` never pulls a framework in.
"""
