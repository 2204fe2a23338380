"""Serving beyond one process: several replicas of a base model behind the worker interface the
HTTP layer uses (``pool.py``), with replicas in this process or on a Ray cluster (``ray_serve.py``)."""
