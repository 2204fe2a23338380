"""User B sees none of user A's resources: every owned getter answers None, lists are empty."""

from __future__ import annotations

import pytest

from twinkle_server.errors import Conflict, InvalidInput, NotFound
from twinkle_server.store import (
    close_session,
    create_checkpoint,
    create_run,
    create_session,
    create_task,
    create_upload_task,
    delete_checkpoint,
    get_checkpoint,
    get_checkpoint_by_name,
    get_run,
    get_session,
    get_task,
    get_upload_task,
    heartbeat_session,
    latest_checkpoint,
    list_checkpoints,
    list_runs,
    list_sessions,
    list_tasks,
    release_run,
)
from twinkle_server.store.runs import RunRoute, get_run_route


@pytest.fixture
def alices(store, users):
    alice, _ = users
    with store.session() as s:
        sess = create_session(s, user_id=alice.id, metadata={"client": "test"})
        run = create_run(
            s,
            user_id=alice.id,
            session_id=sess.id,
            base_model="tiny",
            adapter_name="a",
            lora_config={"r": 8},
            gradient_accumulation_steps=2,
            seed=3,
        )
        ckpt = create_checkpoint(
            s, user_id=alice.id, run_id=run.id, name="step-1", path=f"checkpoints/{run.id}/step-1"
        )
        task = create_task(s, user_id=alice.id, operation="forward_backward", run_id=run.id)
        upload = create_upload_task(
            s, user_id=alice.id, checkpoint_id=ckpt.id, hub="local", hub_model_id="alice/model"
        )
    return sess, run, ckpt, task, upload


def test_owner_sees_everything(store, users, alices):
    alice, _ = users
    sess, run, ckpt, task, upload = alices
    assert sess.id.startswith("sess_") and run.id.startswith("run_") and ckpt.id.startswith("ckpt_")
    assert task.id.startswith("task_") and upload.id.startswith("upl_")
    with store.session() as s:
        assert get_session(s, user_id=alice.id, session_id=sess.id).meta == {"client": "test"}
        got = get_run(s, user_id=alice.id, run_id=run.id)
        assert (got.lora_config, got.gradient_accumulation_steps, got.seed) == ({"r": 8}, 2, 3)
        assert get_checkpoint(s, user_id=alice.id, checkpoint_id=ckpt.id).name == "step-1"
        assert get_checkpoint_by_name(s, user_id=alice.id, run_id=run.id, name="step-1").id == ckpt.id
        assert latest_checkpoint(s, user_id=alice.id, run_id=run.id).id == ckpt.id
        assert get_task(s, user_id=alice.id, task_id=task.id).operation == "forward_backward"
        assert get_upload_task(s, user_id=alice.id, upload_id=upload.id).hub_model_id == "alice/model"
        assert list_runs(s, user_id=alice.id)[1] == 1
        assert list_checkpoints(s, user_id=alice.id, run_id=run.id)[1] == 1


def test_other_user_sees_nothing(store, users, alices):
    _, bob = users
    sess, run, ckpt, task, upload = alices
    with store.session() as s:
        assert get_session(s, user_id=bob.id, session_id=sess.id) is None
        assert get_run(s, user_id=bob.id, run_id=run.id) is None
        assert get_checkpoint(s, user_id=bob.id, checkpoint_id=ckpt.id) is None
        assert get_checkpoint_by_name(s, user_id=bob.id, run_id=run.id, name="step-1") is None
        assert latest_checkpoint(s, user_id=bob.id, run_id=run.id) is None
        assert get_task(s, user_id=bob.id, task_id=task.id) is None
        assert get_upload_task(s, user_id=bob.id, upload_id=upload.id) is None
        assert list_runs(s, user_id=bob.id) == ([], 0)
        assert list_checkpoints(s, user_id=bob.id) == ([], 0)
        assert list_checkpoints(s, user_id=bob.id, run_id=run.id) == ([], 0)
        assert list_sessions(s, user_id=bob.id) == ([], 0)
        assert list_tasks(s, user_id=bob.id) == ([], 0)
        # mutations by the wrong user do nothing and say "not found"
        assert heartbeat_session(s, user_id=bob.id, session_id=sess.id) is None
        assert close_session(s, user_id=bob.id, session_id=sess.id) is None
        assert release_run(s, user_id=bob.id, run_id=run.id) is None
        assert delete_checkpoint(s, user_id=bob.id, checkpoint_id=ckpt.id) is None
        with pytest.raises(NotFound):
            create_checkpoint(s, user_id=bob.id, run_id=run.id, name="x", path="p")
        with pytest.raises(NotFound):
            create_run(s, user_id=bob.id, session_id=sess.id, base_model="tiny", adapter_name="b")
    with store.session() as s:  # and alice's things are untouched
        assert get_run(s, user_id=run.user_id, run_id=run.id).status == "active"
        assert get_checkpoint(s, user_id=run.user_id, checkpoint_id=ckpt.id) is not None


def test_a_runs_route_is_its_owners_only_and_follows_its_status(store, users, alices):
    alice, bob = users
    _, run, *_ = alices
    with store.session() as s:
        assert get_run_route(s, user_id=alice.id, run_id=run.id) == RunRoute(run.id, "active", "tiny")
        assert get_run_route(s, user_id=bob.id, run_id=run.id) is None
        assert get_run_route(s, user_id=alice.id, run_id="run_missing") is None
        release_run(s, user_id=alice.id, run_id=run.id)
    with store.session() as s:
        assert get_run_route(s, user_id=alice.id, run_id=run.id).status == "released"


def test_checkpoint_names_unique_per_run_and_delete(store, users, alices):
    alice, _ = users
    _, run, ckpt, _, upload = alices
    with store.session() as s, pytest.raises(Conflict):
        create_checkpoint(s, user_id=alice.id, run_id=run.id, name="step-1", path="other")
    with store.session() as s:
        create_checkpoint(s, user_id=alice.id, run_id=run.id, name="step-2", path="p2")
        assert latest_checkpoint(s, user_id=alice.id, run_id=run.id).name == "step-2"
    with store.session() as s:
        assert delete_checkpoint(s, user_id=alice.id, checkpoint_id=ckpt.id).id == ckpt.id
    with store.session() as s:
        assert get_checkpoint(s, user_id=alice.id, checkpoint_id=ckpt.id) is None
        assert [c.name for c in list_checkpoints(s, user_id=alice.id)[0]] == ["step-2"]
        assert get_upload_task(s, user_id=alice.id, upload_id=upload.id).checkpoint_id is None


def test_pagination_counts_and_bounds(store, users):
    alice, _ = users
    with store.session() as s:
        ids = [create_run(s, user_id=alice.id, base_model="tiny", adapter_name=f"a{i}").id for i in range(5)]
    with store.session() as s:
        page, total = list_runs(s, user_id=alice.id, limit=2, offset=1)
        assert total == 5 and len(page) == 2
        everything = list_runs(s, user_id=alice.id, limit=10)[0]
        assert sorted(r.id for r in everything) == sorted(ids)
        assert [r.id for r in page] == [r.id for r in everything[1:3]]
        assert list_runs(s, user_id=alice.id, offset=10) == ([], 5)
        for bad in ({"limit": 0}, {"limit": 100000}, {"offset": -1}):
            with pytest.raises(InvalidInput):
                list_runs(s, user_id=alice.id, **bad)
        with pytest.raises(InvalidInput):
            create_run(
                s, user_id=alice.id, base_model="tiny", adapter_name="x", gradient_accumulation_steps=0
            )
