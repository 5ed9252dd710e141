"""``Store``'s clock methods (issue 13), one transaction each; the SQL is in store/clocks.py.

A mixin so store.py stays small: ``Store`` inherits it and provides ``db``, ``_read``.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from island_ssh.store import clocks
from island_ssh.store.clocks import ActorRef, ClockChangeRow, ClockRecord, Proof, TimelineRow
from island_ssh.store.rows import check_island_id


class ClockMethods:
    db: Any

    def _read(self, body):  # pragma: no cover - Store's
        raise NotImplementedError

    def clock(self, island_id: int) -> ClockRecord | None:
        """The island's stored clock (any generation: compare ``generation`` with the row's)."""
        check_island_id(island_id)
        return self._read(lambda cur: clocks.get(cur, island_id))

    def record_clock_change(self, island_id: int, generation: int, **fields: Any) -> bool:
        """See clocks.record_change: state + proof + history + islands columns + event, one commit."""
        check_island_id(island_id)
        return self.db.transaction(lambda cur: clocks.record_change(cur, island_id, generation, **fields),
                                   what=f"recording island {island_id}'s clock")

    def record_clock_failure(self, island_id: int, generation: int, **fields: Any) -> bool:
        check_island_id(island_id)
        return self.db.transaction(lambda cur: clocks.record_failure(cur, island_id, generation, **fields),
                                   what=f"recording a failed clock change of island {island_id}")

    def set_initial_clock(self, island_id: int, generation: int, **fields: Any) -> bool:
        check_island_id(island_id)
        return self.db.transaction(lambda cur: clocks.set_initial(cur, island_id, generation, **fields),
                                   what=f"recording island {island_id}'s start clock")

    def learn_server_start(self, island_id: int, generation: int, server_start: float,
                           state: dict | None = None) -> bool:
        check_island_id(island_id)
        return self.db.transaction(
            lambda cur: clocks.learn_server_start(cur, island_id, generation, server_start, state),
            idempotent=True, what=f"recording island {island_id}'s server start")

    def anchor_clock(self, island_id: int, generation: int, state: dict) -> bool:
        check_island_id(island_id)
        return self.db.transaction(lambda cur: clocks.anchor_at(cur, island_id, generation, state),
                                   idempotent=True, what=f"anchoring island {island_id}'s clock")

    def carry_clock(self, island_id: int, from_generation: int, to_generation: int, state: dict | None = None,
                    anchor: str | None = None) -> None:
        check_island_id(island_id)
        self.db.transaction(lambda cur: clocks.carry(cur, island_id, from_generation, to_generation, state, anchor),
                            idempotent=True, what=f"carrying island {island_id}'s clock to its new pod")

    def note_clock(self, island_id: int, generation: int, *, actor: ActorRef, source: str, request: str,
                   state: dict | None) -> None:
        check_island_id(island_id)
        self.db.transaction(lambda cur: clocks.note(cur, island_id, generation, actor=actor, source=source,
                                                    request=request, state=state),
                            what=f"recording island {island_id}'s clock history")

    def clock_history(self, island_id: int, limit: int = 100) -> Sequence[ClockChangeRow]:
        check_island_id(island_id)
        return self._read(lambda cur: clocks.history(cur, island_id, limit))

    # -- timelines -------------------------------------------------------------------------------
    def add_timeline(self, island_id: int, generation: int, *, actor: ActorRef, request: str,
                     steps: Sequence[Mapping[str, Any]], started_at: float) -> int | None:
        check_island_id(island_id)
        return self.db.transaction(
            lambda cur: clocks.add_timeline(cur, island_id, generation, actor=actor, request=request, steps=steps,
                                            started_at=started_at),
            what=f"storing a clock timeline of island {island_id}")

    def timeline(self, timeline_id: int) -> TimelineRow | None:
        return self._read(lambda cur: clocks.get_timeline(cur, int(timeline_id)))

    def timelines(self, island_id: int, limit: int = 50, active_only: bool = False) -> Sequence[TimelineRow]:
        check_island_id(island_id)
        return self._read(lambda cur: clocks.timelines(cur, island_id, limit, active_only))

    def due_timelines(self, now: float, limit: int = 100) -> Sequence[TimelineRow]:
        return self._read(lambda cur: clocks.due_timelines(cur, now, limit))

    def next_timeline_due(self) -> float | None:
        return self._read(clocks.next_due)

    def claim_timeline_step(self, timeline_id: int, step: int) -> bool:
        # not idempotent: a retry after a commit whose answer was lost would find the step taken
        # and say False, which loses the step rather than applying it twice
        return self.db.transaction(lambda cur: clocks.claim_step(cur, int(timeline_id), int(step)),
                                   what=f"claiming step {step} of clock timeline {timeline_id}")

    def end_timeline(self, timeline_id: int, state: str, error: str = "",
                     expected: Sequence[str] = ("active", "done"), event: tuple[str, str] | None = None) -> bool:
        return self.db.transaction(
            lambda cur: clocks.end_timeline(cur, int(timeline_id), state, error, expected, event),
            what=f"ending clock timeline {timeline_id}")


__all__ = ["ActorRef", "ClockMethods", "Proof"]
