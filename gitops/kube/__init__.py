"""The cluster engine: plan (diff with drift attribution), staged server-side apply, prune, health.

One verb per module, each with its own options and result: ``client`` (the Cluster port) and
``rest`` (its implementation over HTTP), ``manifests`` (validate and stamp ownership), ``diff``
(plan), ``apply``, ``prune`` (inventory and guard), ``health`` and ``wait``; pure helpers in
``ordering``, ``normalize``, ``fields`` and ``managed``. gitops/engine.py strings them together.
"""
