"""Persistent state of the server: users and API keys, sessions, training runs, checkpoints,
idempotency records, tasks and upload tasks. SQLAlchemy 2; no torch, no HTTP.

Every function is keyword-only and takes a SQLAlchemy ``Session`` first; open one with
``store.session()``, which commits when the block ends. Getters of owned resources take the
caller's ``user_id`` and return None for a missing id *and* for another user's (answer 404 for both).
List functions return ``(items, total_count)``. Errors are the domain errors of
``twinkle_server.errors``.

Example::

    store = open_store(settings.database_url)
    with store.session() as s:
        recover_orphans(s)       # what no live server instance holds: fail tasks, release runs...
    with store.session() as s:
        user = authenticate(s, plaintext=bearer_token)        # None -> 401
        run = get_run(s, user_id=user.id, run_id=run_id)       # None -> 404
"""

from twinkle_server.store.checkpoints import (
    create_checkpoint,
    delete_checkpoint,
    get_checkpoint,
    get_checkpoint_by_name,
    latest_checkpoint,
    list_checkpoints,
)
from twinkle_server.store.db import Store, open_store
from twinkle_server.store.idempotency import (
    IdempotencyClaim,
    claim_idempotency,
    complete_idempotency,
    get_idempotency,
    purge_idempotency,
    release_idempotency,
    request_fingerprint,
)
from twinkle_server.store.ids import new_id
from twinkle_server.store.migrations import CURRENT_VERSION
from twinkle_server.store.models import (
    ApiKey,
    Checkpoint,
    ClientSession,
    IdempotencyRecord,
    Task,
    TrainingRun,
    UploadTask,
    User,
    utcnow,
)
from twinkle_server.store.recovery import Recovery, recover_orphans
from twinkle_server.store.runs import (
    RunRoute,
    count_active_runs,
    create_run,
    get_run,
    get_run_route,
    list_runs,
    release_orphaned_runs,
    release_run,
)
from twinkle_server.store.sessions import (
    EndedSession,
    close_session,
    create_session,
    expire_sessions,
    get_session,
    heartbeat_session,
    list_sessions,
)
from twinkle_server.store.tasks import (
    create_task,
    create_upload_task,
    fail_orphaned_tasks,
    finish_task,
    finish_upload_task,
    get_task,
    get_upload_task,
    list_tasks,
    list_upload_tasks,
    start_task,
    start_upload_task,
)
from twinkle_server.store.users import (
    KeyOwner,
    authenticate,
    count_active_api_keys,
    create_api_key,
    create_user,
    find_key_owner,
    get_or_create_user,
    get_user,
    get_user_by_name,
    hash_api_key,
    list_api_keys,
    revoke_api_key,
)

__all__ = [
    "CURRENT_VERSION",
    "ApiKey",
    "Checkpoint",
    "ClientSession",
    "EndedSession",
    "IdempotencyClaim",
    "IdempotencyRecord",
    "KeyOwner",
    "Recovery",
    "RunRoute",
    "Store",
    "Task",
    "TrainingRun",
    "UploadTask",
    "User",
    "authenticate",
    "claim_idempotency",
    "close_session",
    "complete_idempotency",
    "count_active_api_keys",
    "count_active_runs",
    "create_api_key",
    "create_checkpoint",
    "create_run",
    "create_session",
    "create_task",
    "create_upload_task",
    "create_user",
    "delete_checkpoint",
    "expire_sessions",
    "fail_orphaned_tasks",
    "find_key_owner",
    "finish_task",
    "finish_upload_task",
    "get_checkpoint",
    "get_checkpoint_by_name",
    "get_idempotency",
    "get_or_create_user",
    "get_run",
    "get_run_route",
    "get_session",
    "get_task",
    "get_upload_task",
    "get_user",
    "get_user_by_name",
    "hash_api_key",
    "heartbeat_session",
    "latest_checkpoint",
    "list_api_keys",
    "list_checkpoints",
    "list_runs",
    "list_sessions",
    "list_tasks",
    "list_upload_tasks",
    "new_id",
    "open_store",
    "purge_idempotency",
    "recover_orphans",
    "release_idempotency",
    "release_orphaned_runs",
    "release_run",
    "request_fingerprint",
    "revoke_api_key",
    "start_task",
    "start_upload_task",
    "utcnow",
]
