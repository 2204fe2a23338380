"""RunSequencer lets a run's requests submit in ticket (arrival) order, whatever order they get there."""

from __future__ import annotations

import asyncio

from twinkle_server.requests.ordering import RunSequencer


def test_later_tickets_wait_for_earlier_ones_of_the_same_run() -> None:
    async def scenario() -> list[str]:
        seq = RunSequencer()
        order: list[str] = []
        tickets = [seq.take("run_a") for _ in range(3)]
        other = seq.take("run_b")

        async def submit(name: str, run: str, ticket: int, delay: float) -> None:
            await asyncio.sleep(delay)  # arrive at the submit point in a scrambled order
            async with seq.turn(run, ticket):
                order.append(name)

        await asyncio.gather(
            submit("a2", "run_a", tickets[2], 0.00),
            submit("a0", "run_a", tickets[0], 0.03),
            submit("b0", "run_b", other, 0.01),
            submit("a1", "run_a", tickets[1], 0.02),
        )
        return order

    order = asyncio.run(scenario())
    assert [n for n in order if n.startswith("a")] == ["a0", "a1", "a2"]
    assert order.index("b0") < order.index("a0")  # another run is not held up


def test_a_ticket_given_up_lets_the_next_one_through() -> None:
    async def scenario() -> list[int]:
        seq = RunSequencer()
        first, second = seq.take("run_a"), seq.take("run_a")
        done: list[int] = []

        async def later() -> None:
            async with seq.turn("run_a", second):
                done.append(second)

        task = asyncio.create_task(later())
        await asyncio.sleep(0.02)
        assert done == []  # still waiting for the first ticket
        seq.give_up("run_a", first)  # e.g. the first request failed auth
        await asyncio.wait_for(task, timeout=1)
        seq.give_up("run_a", first)  # twice is harmless
        return done

    assert asyncio.run(scenario()) == [1]
