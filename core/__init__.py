"""specgate: a TCP gateway for field devices described by declarative YAML specs."""

__version__ = "0.1.0"
