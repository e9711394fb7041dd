"""Device simulators for people and tests: gas meters (``gas_meter``) and an A&D scale (``scale``).

Packet and line generation is pure and importable; the ``run_*`` coroutines talk TCP to a gateway.
``specgate simulate gas-meter|scale`` (``core/cli/simulate.py``) wraps them.
"""
