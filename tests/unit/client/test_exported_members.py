"""Pins the public surface of the user-facing packages, so a change to it is a deliberate one."""

from __future__ import annotations

import importlib

import pytest

import twinkle
import twinkle_client

CLIENT_ALL = {
    "DEFAULT_ADAPTER_SEED",
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "DataLoader",
    "Dataset",
    "InternalServerError",
    "MultiLoraTransformersModel",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServiceUnavailableError",
    "TaskTimeoutError",
    "TwinkleClient",
    "TwinkleClientError",
    "UnprocessableEntityError",
    "get_current_client",
    "init_twinkle_client",
}

SUBMODULES = {
    "twinkle_client.dataset": {"Dataset", "dataset_meta_to_dict"},
    "twinkle_client.dataloader": {"DataLoader"},
    "twinkle_client.model": {
        "DEFAULT_ADAPTER_SEED",
        "MultiLoraTransformersModel",
        "UnsupportedLoraSetting",
        "lora_config_to_dict",
    },
    "twinkle_client.manager": {
        "DEFAULT_BASE_URL",
        "ENV_API_KEY",
        "ENV_BASE_URL",
        "TwinkleClient",
        "init_twinkle_client",
        "parse_twinkle_path",
    },
    "twinkle.dataset": {"Dataset", "DatasetMeta"},
    "twinkle.dataloader": {"DataLoader"},
    "twinkle.model": {"DEFAULT_ADAPTER_SEED", "MultiLoraTransformersModel"},
    "twinkle_client.sampler": {
        "SampleResponse",
        "SampledToken",
        "SamplingParams",
        "TorchSampler",
        "vLLMSampler",
    },
    "twinkle.sampler": {"SampleResponse", "SampledToken", "SamplingParams", "TorchSampler", "vLLMSampler"},
}


def test_twinkle_client_all() -> None:
    assert set(twinkle_client.__all__) == CLIENT_ALL
    for name in twinkle_client.__all__:
        assert getattr(twinkle_client, name) is not None, name


def test_twinkle_all() -> None:
    assert set(twinkle.__all__) == {"configure", "get_logger"}
    assert callable(twinkle.get_logger) and callable(twinkle.configure)


@pytest.mark.parametrize("module", sorted(SUBMODULES))
def test_submodule_all(module: str) -> None:
    mod = importlib.import_module(module)
    assert set(mod.__all__) == SUBMODULES[module]
    for name in mod.__all__:
        assert getattr(mod, name) is not None, f"{module}.{name}"


def test_types_all_are_models() -> None:
    from pydantic import BaseModel

    import twinkle_client.types as types

    for name in types.__all__:
        obj = getattr(types, name)
        assert name == "Page" or issubclass(obj, BaseModel), name


def test_both_faces_share_signatures() -> None:
    """Swapping the import must not change how the loop calls the classes."""
    import inspect

    from twinkle.dataloader import DataLoader as LocalLoader
    from twinkle.dataset import Dataset as LocalDataset
    from twinkle.model import MultiLoraTransformersModel as LocalModel
    from twinkle_client.dataloader import DataLoader as RemoteLoader
    from twinkle_client.dataset import Dataset as RemoteDataset
    from twinkle_client.model import MultiLoraTransformersModel as RemoteModel

    def public(cls: type) -> dict[str, inspect.Signature]:
        return {
            name: inspect.signature(fn)
            for name, fn in inspect.getmembers(cls, inspect.isfunction)
            if not name.startswith("_") or name in ("__len__", "__getitem__", "__iter__")
        }

    for local, remote in (
        (LocalModel, RemoteModel),
        (LocalDataset, RemoteDataset),
        (LocalLoader, RemoteLoader),
    ):
        local_sigs, remote_sigs = public(local), public(remote)
        for name, sig in local_sigs.items():
            if name in ("close",):
                continue
            assert name in remote_sigs, f"{remote.__module__}.{remote.__name__} lacks {name}"
            local_params = [p for p in sig.parameters if p not in ("_ignored_client",)]
            remote_params = list(remote_sigs[name].parameters)
            assert local_params == remote_params[: len(local_params)], (local.__name__, name)
