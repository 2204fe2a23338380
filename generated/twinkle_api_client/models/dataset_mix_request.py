from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

from ..models.dataset_mix_request_mode import DatasetMixRequestMode, check_dataset_mix_request_mode
from ..types import UNSET, Unset

T = TypeVar("T", bound="DatasetMixRequest")


@_attrs_define
class DatasetMixRequest:
    """
    Attributes:
        mode (DatasetMixRequestMode | Unset):  Default: 'interleave'.
        probabilities (list[float] | Unset):
        seed (int | Unset):
    """

    mode: DatasetMixRequestMode | Unset = "interleave"
    probabilities: list[float] | Unset = UNSET
    seed: int | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        mode: str | Unset = UNSET
        if not isinstance(self.mode, Unset):
            mode = self.mode

        probabilities: list[float] | Unset = UNSET
        if not isinstance(self.probabilities, Unset):
            probabilities = self.probabilities

        seed = self.seed

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if mode is not UNSET:
            field_dict["mode"] = mode
        if probabilities is not UNSET:
            field_dict["probabilities"] = probabilities
        if seed is not UNSET:
            field_dict["seed"] = seed

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        _mode = d.pop("mode", UNSET)
        mode: DatasetMixRequestMode | Unset
        if isinstance(_mode, Unset):
            mode = UNSET
        else:
            mode = check_dataset_mix_request_mode(_mode)

        probabilities = cast(list[float], d.pop("probabilities", UNSET))

        seed = d.pop("seed", UNSET)

        dataset_mix_request = cls(
            mode=mode,
            probabilities=probabilities,
            seed=seed,
        )

        return dataset_mix_request
