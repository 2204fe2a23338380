"""Request plumbing shared by the HTTP layer, the runtime and the task runner.

``idempotency`` applies a keyed request once (``IdempotencyGuard``), ``ordering`` lets one run's
requests reach the engine in arrival order (``RunSequencer``), ``statuses`` gives each domain
error its HTTP status (``status_for``). They know requests, not HTTP frameworks: ``twinkle_server.api``
imports them, never the other way round. Import the modules themselves; this package re-exports
nothing (``twinkle_server.tasks`` and ``idempotency`` import each other's neighbours).
"""
