"""Run journals and recovery snapshots (``store/journal.py``), on SQLite and PostgreSQL."""

from __future__ import annotations

from twinkle_server.store import create_run, create_user, journal
from twinkle_server.store.runs import release_run


def _ops(store, run_id: str, after: int = 0) -> list[tuple[int, str]]:
    with store.read_session() as s:
        return [(e.seq, e.op) for e in journal.entries_after(s, run_id=run_id, seq=after)]


def test_entries_in_order_snapshot_trims_and_release_clears(store) -> None:
    rows = [{"input_ids": [1, 2, 3], "labels": [-100, 2, 3]}]
    with store.session() as s:  # written in another order than their sequence: replayed by seq
        journal.add_entry(
            s, run_id="run_a", seq=2, op="forward_backward", kwargs={"inputs": rows}, result={"loss": 1.5}
        )
        journal.add_entry(s, run_id="run_a", seq=1, op="set_optimizer", kwargs={"name": "AdamW"}, result={})
        journal.add_entry(s, run_id="run_b", seq=1, op="zero_grad", kwargs={}, result={})
    with store.read_session() as s:
        assert journal.last_seq(s, run_id="run_a") == 2 and journal.last_seq(s, run_id="nobody") == 0
        (entry,) = journal.entries_after(s, run_id="run_a", seq=1)
        assert (entry.kwargs, entry.result) == ({"inputs": rows}, {"loss": 1.5})
    assert _ops(store, "run_a") == [(1, "set_optimizer"), (2, "forward_backward")]
    with store.session() as s:  # a snapshot taken as the 3rd operation holds entries 1 and 2
        journal.add_entry(s, run_id="run_a", seq=4, op="step", kwargs={}, result={"optimizer_step": 1})
        assert (
            journal.set_snapshot(s, run_id="run_a", seq=3, path="recovery/run_a/3", optimizer_step=1) is None
        )
    assert _ops(store, "run_a") == [(4, "step")]
    with store.session() as s:
        old = journal.set_snapshot(s, run_id="run_a", seq=5, path="recovery/run_a/5", optimizer_step=1)
        assert old == "recovery/run_a/3"
        assert journal.last_seq(s, run_id="run_a") == 5  # the snapshot's number counts too
    with store.session() as s:
        assert journal.clear_recovery(s, run_id="run_a") == "recovery/run_a/5"
    with store.read_session() as s:
        assert journal.get_snapshot(s, run_id="run_a") is None and journal.last_seq(s, run_id="run_a") == 0
    assert _ops(store, "run_b") == [(1, "zero_grad")]  # other runs untouched


def test_recovery_state_of_runs_no_longer_active_is_found(store) -> None:
    with store.session() as s:
        user = create_user(s, name="alice").id
        active = create_run(s, user_id=user, base_model="m", adapter_name="a").id
        released = create_run(s, user_id=user, base_model="m", adapter_name="b").id
        release_run(s, user_id=user, run_id=released)
        for run_id in (active, released, "run_gone"):
            journal.add_entry(s, run_id=run_id, seq=1, op="zero_grad", kwargs={}, result={})
        journal.set_snapshot(s, run_id="run_snap_only", seq=2, path="recovery/x/2", optimizer_step=0)
    with store.read_session() as s:
        assert journal.inactive_run_ids(s) == sorted([released, "run_gone", "run_snap_only"])
