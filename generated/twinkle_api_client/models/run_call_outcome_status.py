from typing import Literal

RunCallOutcomeStatus = Literal["failed", "skipped", "succeeded"]

RUN_CALL_OUTCOME_STATUS_VALUES: set[RunCallOutcomeStatus] = {
    "failed",
    "skipped",
    "succeeded",
}


def check_run_call_outcome_status(value: str) -> RunCallOutcomeStatus:
    if value in RUN_CALL_OUTCOME_STATUS_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {RUN_CALL_OUTCOME_STATUS_VALUES!r}")
