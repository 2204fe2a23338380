from typing import Literal

RowPreference = Literal["chosen", "rejected"]

ROW_PREFERENCE_VALUES: set[RowPreference] = {
    "chosen",
    "rejected",
}


def check_row_preference(value: str) -> RowPreference:
    if value in ROW_PREFERENCE_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {ROW_PREFERENCE_VALUES!r}")
