"""zego_py benchmarks: `python -m bench` (docs/benchmarks.md)."""
