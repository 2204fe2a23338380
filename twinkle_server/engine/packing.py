"""Row packing: several short rows of a run share one row of the pass, so padding is not computed.

A fused pass pads every row to the pass's widest row. When rows differ in length, much of the
pass is padding, and every linear layer computes it. Packing lays a run's rows end to end into
as few rows of the pass's width as fit (first fit, longest first) and passes no attention mask:
transformers then reads the restarts of ``position_ids`` as sequence boundaries and keeps each
row's attention inside its own tokens (``masking_utils.find_packed_sequence_indices``).

Nothing else sees the packed layout. The batched LoRA layer maps each packed position back to
the run's own padded rows to draw dropout in the run's own shape (``Segment.packing``), and the
pass's output is unpacked to the padded layout before any loss is computed. A run's numbers
therefore equal its unpacked ones up to floating-point noise (matmuls of another shape).

Rows are packed only within a run's own segment (the LoRA layer routes contiguous rows) and only
when every row's position ids count 0, 1, 2, ... over its tokens: a row that brings other
position ids would be read as several sequences, or merged with its neighbour.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from twinkle_server.engine.batched_lora import PassPlan, RowPacking, Segment

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
    positions = inputs["position_ids"]
    lengths = mask.sum(dim=1)
    if not _canonical_positions(positions, mask, lengths):
        return None
    width = int(mask.shape[1])
    bins = [_first_fit(lengths[s.start : s.stop].tolist(), width) for s in plan.segments]
    if sum(len(b) for b in bins) >= int(mask.shape[0]):
        return None
    device = mask.device
    token_index = _token_index(mask)  # per padded position: its flat index, -1 on padding
    ids, pos, sources, segments = [], [], [], []
    start = 0
    for segment, segment_bins in zip(plan.segments, bins, strict=True):
        base = segment.start * width
        source = _bin_sources(segment_bins, token_index[segment.start : segment.stop] - base, width)
        flat = torch.where(source >= 0, source + base, 0)
        ids.append(torch.where(source >= 0, inputs["input_ids"].reshape(-1)[flat], pad_id))
        pos.append(torch.where(source >= 0, positions.reshape(-1)[flat], _filler_positions(source)))
        sources.append(torch.where(source >= 0, flat, -1))
        packing = RowPacking(own_rows=segment.stop - segment.start, source=_local(source, width, segment))
        segments.append(replace(segment, start=start, stop=start + len(segment_bins), packing=packing))
        start += len(segment_bins)
    packed_source = torch.cat(sources).to(device)
    inputs = {"input_ids": torch.cat(ids).to(device), "position_ids": torch.cat(pos).to(device)}
    return PackedPass(inputs, PassPlan(tuple(segments)), _gather(packed_source, mask))


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


def _token_index(mask: torch.Tensor) -> torch.Tensor:
    """Per position, its flat index in the padded layout where it holds a token, else -1."""
    flat = torch.arange(mask.numel(), device=mask.device).reshape(mask.shape)
    return torch.where(mask, flat, -1)


def _bin_sources(bins: list[list[int]], token_index: torch.Tensor, width: int) -> torch.Tensor:
    """Per bin, the flat indices (as ``token_index`` counts them) of the tokens it holds; -1 after."""
    out = torch.full((len(bins), width), -1, dtype=torch.long, device=token_index.device)
    for b, rows in enumerate(bins):
        tokens = torch.cat([token_index[r][token_index[r] >= 0] for r in rows])
        out[b, : tokens.numel()] = tokens
    return out


def _local(source: torch.Tensor, width: int, segment: Segment) -> torch.Tensor:
    """Packed flat indices into the segment's own rows at its own width (what dropout draws)."""
    row, column = source.div(width, rounding_mode="floor"), source.remainder(width)
    local = row * segment.width + column
    if segment.width < width:
        local = torch.where(column < segment.width, local, -1)
    return torch.where(source >= 0, local, -1)


def _filler_positions(source: torch.Tensor) -> torch.Tensor:
    """Position ids of filler: counting from 0, so filler forms a sequence of its own."""
    filler = (source < 0).long()
    return (filler.cumsum(dim=1) - 1).clamp(min=0) * filler


def _gather(packed_source: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per padded position, the packed flat index holding its token; padding reads a zero row."""
    zero_row = packed_source.numel()
    gather = torch.full((mask.numel(),), zero_row, dtype=torch.long, device=mask.device)
    taken = packed_source.reshape(-1)
    where = torch.nonzero(taken >= 0).squeeze(1)
    gather[taken[where]] = where
    return gather
