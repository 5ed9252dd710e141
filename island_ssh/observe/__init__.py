"""Observation: the Prometheus metrics every layer reports to (``island_ssh.observe.metrics``).

A bottom layer beside the core (setup.cfg's layer contract): it imports only ``prometheus_client``
and the standard library, so the edges (ssh, store, kube), the use cases and the faces may all
report to it, and the core, which stays pure, may not import it (core-is-pure contract).
"""
