"""Rep selection. Pure: the rotation's position is stored by the caller."""

from __future__ import annotations

from collections.abc import Sequence


def next_in_rotation(rep_ids: Sequence[str], *, last_rep_id: str | None) -> str:
    """The rep after `last_rep_id` in `rep_ids`, wrapping around.

    Keyed on the last rep rather than a counter, so adding or removing a rep does not reset the
    rotation; when the last rep has left the roster, the rotation starts from the top.
    """
    if not rep_ids:
        raise ValueError("no reps to route to")
    if last_rep_id not in rep_ids:
        return rep_ids[0]
    return rep_ids[(list(rep_ids).index(last_rep_id) + 1) % len(rep_ids)]
