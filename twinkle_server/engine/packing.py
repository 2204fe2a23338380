"""Row packing: the rows of a pass laid end to end, so padding is not computed.

A fused pass pads every row to the pass's widest row. When rows differ in length (and several
tenants' rows rarely agree), much of the pass is padding, and every linear layer computes it.
Packing lays the pass's rows, whichever run they belong to, end to end into as few rows of the
pass's width as fit (first fit, longest first), and passes no attention mask: transformers then
reads the restarts of ``position_ids`` as sequence boundaries and keeps each row's attention
inside its own tokens (``masking_utils.find_packed_sequence_indices``).

Nothing else sees the packed layout. The batched LoRA layer finds each run's tokens by their
positions in the packed pass (``RowPacking.pass_index``) and draws the run's dropout in the run's
own padded shape, then takes each token's noise from where the token stood there
(``RowPacking.own_index``). The pass's output is unpacked to the padded layout before any loss is
computed. A run's numbers therefore equal its unpacked ones up to floating-point noise (matmuls of
another shape).

A pass is packed only when that saves rows, and only when every row's position ids count 0, 1,
2, ... over its tokens: a row that brings other position ids would be read as several sequences,
or merged with its neighbour.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from twinkle_server.engine.batched_lora import PassPlan, RowPacking

__all__ = ["PackedPass", "pack_pass"]


@dataclass(frozen=True)
class PackedPass:
    """The pass's inputs and plan in packed layout, and the way back to the padded one."""

    inputs: dict[str, torch.Tensor]
    plan: PassPlan
    gather: torch.Tensor  # per padded position: its packed flat index, or the index of a zero row

    def unpack(self, states: torch.Tensor, rows: int, width: int) -> torch.Tensor:
        """``states`` of the packed rows, laid out as the padded ``rows x width`` (zeros on padding)."""
        flat = states.reshape(-1, states.shape[-1])
        flat = torch.cat([flat, flat.new_zeros(1, flat.shape[-1])])
        return flat[self.gather].reshape(rows, width, states.shape[-1])


def pack_pass(inputs: dict[str, torch.Tensor], plan: PassPlan, pad_id: int) -> PackedPass | None:
    """``inputs`` (padded rows, routed by ``plan``) packed; None when packing would save no row.

    Also None when a row's position ids do not count up from 0 over its tokens (see the module doc).
    """
    mask = inputs["attention_mask"].bool()
    lengths = mask.sum(dim=1)
    if not _canonical_positions(inputs["position_ids"], mask, lengths):
        return None
    rows, width = mask.shape
    bins = _first_fit(lengths.tolist(), int(width))
    if len(bins) >= rows:
        return None
    # Where each padded position's token goes in the packed pass (flat index), -1 for padding.
    destination = torch.full((rows * width,), -1, dtype=torch.long)
    for b, members in enumerate(bins):
        offset = b * width
        for row in members:
            own = torch.nonzero(mask[row].cpu()).squeeze(1) + row * width
            destination[own] = torch.arange(offset, offset + own.numel())
            offset += own.numel()
    destination = destination.to(mask.device)
    taken = destination >= 0
    source = torch.full((len(bins) * width,), -1, dtype=torch.long, device=mask.device)
    source[destination[taken]] = torch.nonzero(taken).squeeze(1)
    filled = source >= 0
    flat_ids, flat_positions = inputs["input_ids"].reshape(-1), inputs["position_ids"].reshape(-1)
    packed_ids = torch.where(filled, flat_ids[source.clamp(min=0)], pad_id)
    packed_positions = torch.where(
        filled, flat_positions[source.clamp(min=0)], _filler_positions(filled, width)
    )
    packed = {
        "input_ids": packed_ids.reshape(len(bins), width),
        "position_ids": packed_positions.reshape(len(bins), width),
    }
    segments = tuple(
        replace(s, packing=_segment_packing(s.start, s.stop, s.width, destination, mask))
        for s in plan.segments
    )
    gather = torch.where(taken, destination, source.numel())
    return PackedPass(packed, PassPlan(segments), gather)


def _canonical_positions(positions: torch.Tensor, mask: torch.Tensor, lengths: torch.Tensor) -> bool:
    """Whether each row's position ids, read over its tokens, are 0, 1, ..., length - 1."""
    rank = mask.long().cumsum(dim=1) - 1
    return bool(torch.equal(positions[mask], rank[mask])) and bool((lengths > 0).all())


def _first_fit(lengths: list[int], width: int) -> list[list[int]]:
    """Rows (by index) grouped into bins of ``width`` tokens: first fit, longest rows first."""
    bins: list[list[int]] = []
    room: list[int] = []
    for row in sorted(range(len(lengths)), key=lambda r: (-lengths[r], r)):
        for b, free in enumerate(room):
            if lengths[row] <= free:
                bins[b].append(row)
                room[b] -= lengths[row]
                break
        else:
            bins.append([row])
            room.append(width - lengths[row])
    return bins


def _segment_packing(
    start: int, stop: int, own_width: int, destination: torch.Tensor, mask: torch.Tensor
) -> RowPacking:
    """Rows ``start:stop``'s tokens: where they went in the packed pass and where they stood in the
    segment's own padded rows (``own_width`` wide), both in the order of the padded layout."""
    width = mask.shape[1]
    block = mask[start:stop]
    rows, columns = torch.nonzero(block, as_tuple=True)
    pass_index = destination[(rows + start) * width + columns]
    return RowPacking(own_rows=stop - start, own_index=rows * own_width + columns, pass_index=pass_index)


def _filler_positions(filled: torch.Tensor, width: int) -> torch.Tensor:
    """Position ids of filler after a packed row's last token: counting from 0, its own sequence."""
    filler = (~filled).reshape(-1, width).long()
    return ((filler.cumsum(dim=1) - 1).clamp(min=0) * filler).reshape(-1)
