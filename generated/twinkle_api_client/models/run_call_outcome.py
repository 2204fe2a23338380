from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.run_call_op import RunCallOp, check_run_call_op
from ..models.run_call_outcome_status import RunCallOutcomeStatus, check_run_call_outcome_status
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.error_body import ErrorBody
    from ..models.run_call_outcome_result_type_0 import RunCallOutcomeResultType0


T = TypeVar("T", bound="RunCallOutcome")


@_attrs_define
class RunCallOutcome:
    """
    Attributes:
        op (RunCallOp): A training-loop operation that `run_calls` can carry (its operationId).
        status (RunCallOutcomeStatus): `skipped`: not applied, because a call before it failed.
        result (None | RunCallOutcomeResultType0 | Unset): The operation's own success body, when succeeded.
        error (ErrorBody | None | Unset): The operation's error, when failed.
        http_status (int | None | Unset): The status the operation alone would have answered; null when skipped.
    """

    op: RunCallOp
    status: RunCallOutcomeStatus
    result: None | RunCallOutcomeResultType0 | Unset = UNSET
    error: ErrorBody | None | Unset = UNSET
    http_status: int | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.error_body import ErrorBody  # noqa: PLC0415
        from ..models.run_call_outcome_result_type_0 import RunCallOutcomeResultType0  # noqa: PLC0415

        op: str = self.op

        status: str = self.status

        result: dict[str, Any] | None | Unset
        if isinstance(self.result, Unset):
            result = UNSET
        elif isinstance(self.result, RunCallOutcomeResultType0):
            result = self.result.to_dict()
        else:
            result = self.result

        error: dict[str, Any] | None | Unset
        if isinstance(self.error, Unset):
            error = UNSET
        elif isinstance(self.error, ErrorBody):
            error = self.error.to_dict()
        else:
            error = self.error

        http_status: int | None | Unset
        if isinstance(self.http_status, Unset):
            http_status = UNSET
        else:
            http_status = self.http_status

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "op": op,
                "status": status,
            }
        )
        if result is not UNSET:
            field_dict["result"] = result
        if error is not UNSET:
            field_dict["error"] = error
        if http_status is not UNSET:
            field_dict["http_status"] = http_status

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.error_body import ErrorBody  # noqa: PLC0415
        from ..models.run_call_outcome_result_type_0 import RunCallOutcomeResultType0  # noqa: PLC0415

        d = dict(src_dict)
        op = check_run_call_op(d.pop("op"))

        status = check_run_call_outcome_status(d.pop("status"))

        def _parse_result(data: object) -> None | RunCallOutcomeResultType0 | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                result_type_0 = RunCallOutcomeResultType0.from_dict(data)

                return result_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | RunCallOutcomeResultType0 | Unset, data)

        result = _parse_result(d.pop("result", UNSET))

        def _parse_error(data: object) -> ErrorBody | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                error_type_0 = ErrorBody.from_dict(data)

                return error_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(ErrorBody | None | Unset, data)

        error = _parse_error(d.pop("error", UNSET))

        def _parse_http_status(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        http_status = _parse_http_status(d.pop("http_status", UNSET))

        run_call_outcome = cls(
            op=op,
            status=status,
            result=result,
            error=error,
            http_status=http_status,
        )

        run_call_outcome.additional_properties = d
        return run_call_outcome

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
