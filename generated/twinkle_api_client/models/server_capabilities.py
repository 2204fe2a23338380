from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.model_capability import ModelCapability


T = TypeVar("T", bound="ServerCapabilities")


@_attrs_define
class ServerCapabilities:
    """
    Attributes:
        version (str): The server's software version.
        api_version (str): The API version (semver, the spec's info.version) this server implements.
        min_client_version (str): The oldest client API version this server serves; older clients get 400
            unsupported_client_version.
        models (list[ModelCapability]):
        losses (list[str]):
        optimizers (list[str]):
        lr_schedulers (list[str]):
        templates (list[str]):
        processors (list[str]):
        preprocessors (list[str]):
        metrics (list[str]):
        max_body_bytes (int):
    """

    version: str
    api_version: str
    min_client_version: str
    models: list[ModelCapability]
    losses: list[str]
    optimizers: list[str]
    lr_schedulers: list[str]
    templates: list[str]
    processors: list[str]
    preprocessors: list[str]
    metrics: list[str]
    max_body_bytes: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        version = self.version

        api_version = self.api_version

        min_client_version = self.min_client_version

        models = []
        for models_item_data in self.models:
            models_item = models_item_data.to_dict()
            models.append(models_item)

        losses = self.losses

        optimizers = self.optimizers

        lr_schedulers = self.lr_schedulers

        templates = self.templates

        processors = self.processors

        preprocessors = self.preprocessors

        metrics = self.metrics

        max_body_bytes = self.max_body_bytes

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "version": version,
                "api_version": api_version,
                "min_client_version": min_client_version,
                "models": models,
                "losses": losses,
                "optimizers": optimizers,
                "lr_schedulers": lr_schedulers,
                "templates": templates,
                "processors": processors,
                "preprocessors": preprocessors,
                "metrics": metrics,
                "max_body_bytes": max_body_bytes,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.model_capability import ModelCapability  # noqa: PLC0415

        d = dict(src_dict)
        version = d.pop("version")

        api_version = d.pop("api_version")

        min_client_version = d.pop("min_client_version")

        models = []
        _models = d.pop("models")
        for models_item_data in _models:
            models_item = ModelCapability.from_dict(models_item_data)

            models.append(models_item)

        losses = cast(list[str], d.pop("losses"))

        optimizers = cast(list[str], d.pop("optimizers"))

        lr_schedulers = cast(list[str], d.pop("lr_schedulers"))

        templates = cast(list[str], d.pop("templates"))

        processors = cast(list[str], d.pop("processors"))

        preprocessors = cast(list[str], d.pop("preprocessors"))

        metrics = cast(list[str], d.pop("metrics"))

        max_body_bytes = d.pop("max_body_bytes")

        server_capabilities = cls(
            version=version,
            api_version=api_version,
            min_client_version=min_client_version,
            models=models,
            losses=losses,
            optimizers=optimizers,
            lr_schedulers=lr_schedulers,
            templates=templates,
            processors=processors,
            preprocessors=preprocessors,
            metrics=metrics,
            max_body_bytes=max_body_bytes,
        )

        server_capabilities.additional_properties = d
        return server_capabilities

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
