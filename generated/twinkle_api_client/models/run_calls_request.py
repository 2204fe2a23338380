from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

if TYPE_CHECKING:
    from ..models.clip_call import ClipCall
    from ..models.metric_call import MetricCall
    from ..models.plain_call import PlainCall
    from ..models.rows_call import RowsCall


T = TypeVar("T", bound="RunCallsRequest")


@_attrs_define
class RunCallsRequest:
    """
    Attributes:
        calls (list[ClipCall | MetricCall | PlainCall | RowsCall]):
    """

    calls: list[ClipCall | MetricCall | PlainCall | RowsCall]

    def to_dict(self) -> dict[str, Any]:
        from ..models.clip_call import ClipCall  # noqa: PLC0415
        from ..models.plain_call import PlainCall  # noqa: PLC0415
        from ..models.rows_call import RowsCall  # noqa: PLC0415

        calls = []
        for calls_item_data in self.calls:
            calls_item: dict[str, Any]
            if isinstance(calls_item_data, RowsCall):
                calls_item = calls_item_data.to_dict()
            elif isinstance(calls_item_data, ClipCall):
                calls_item = calls_item_data.to_dict()
            elif isinstance(calls_item_data, PlainCall):
                calls_item = calls_item_data.to_dict()
            else:
                calls_item = calls_item_data.to_dict()

            calls.append(calls_item)

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "calls": calls,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.clip_call import ClipCall  # noqa: PLC0415
        from ..models.metric_call import MetricCall  # noqa: PLC0415
        from ..models.plain_call import PlainCall  # noqa: PLC0415
        from ..models.rows_call import RowsCall  # noqa: PLC0415

        d = dict(src_dict)
        calls = []
        _calls = d.pop("calls")
        for calls_item_data in _calls:

            def _parse_calls_item(data: object) -> ClipCall | MetricCall | PlainCall | RowsCall:
                try:
                    if not isinstance(data, dict):
                        raise TypeError()
                    componentsschemas_run_call_type_0 = RowsCall.from_dict(data)

                    return componentsschemas_run_call_type_0
                except (TypeError, ValueError, AttributeError, KeyError):
                    pass
                try:
                    if not isinstance(data, dict):
                        raise TypeError()
                    componentsschemas_run_call_type_1 = ClipCall.from_dict(data)

                    return componentsschemas_run_call_type_1
                except (TypeError, ValueError, AttributeError, KeyError):
                    pass
                try:
                    if not isinstance(data, dict):
                        raise TypeError()
                    componentsschemas_run_call_type_2 = PlainCall.from_dict(data)

                    return componentsschemas_run_call_type_2
                except (TypeError, ValueError, AttributeError, KeyError):
                    pass
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_run_call_type_3 = MetricCall.from_dict(data)

                return componentsschemas_run_call_type_3

            calls_item = _parse_calls_item(calls_item_data)

            calls.append(calls_item)

        run_calls_request = cls(
            calls=calls,
        )

        return run_calls_request
