"""Run placements (which replica holds a run's adapter), on SQLite and PostgreSQL."""

from __future__ import annotations

from twinkle_server.store.placements import clear_placement, count_placements, get_placement, set_placement


def test_place_move_count_and_clear(store) -> None:
    with store.session() as s:  # the engine places a run before its row exists: no foreign key
        set_placement(s, run_id="run_a", base_model="m", replica="m#0", incarnation="i0")
        set_placement(s, run_id="run_b", base_model="m", replica="m#0", incarnation="i0")
        set_placement(s, run_id="run_c", base_model="other", replica="other#0", incarnation="j0")
    with store.session() as s:
        assert count_placements(s, base_model="m") == {"m#0": 2}
        set_placement(s, run_id="run_a", base_model="m", replica="m#1", incarnation="i1")  # moved
    with store.read_session() as s:
        row = get_placement(s, run_id="run_a")
        assert (row.replica, row.incarnation) == ("m#1", "i1")
        assert count_placements(s, base_model="m") == {"m#0": 1, "m#1": 1}
    with store.session() as s:
        clear_placement(s, run_id="run_a")
        assert get_placement(s, run_id="run_a") is None
