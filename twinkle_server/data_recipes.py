"""Datasets and dataloaders that survive a restart: every step is applied through here, recorded in
the store once it succeeded, and replayed from the store when a restarted server first meets the id.

Why replay rather than save the rows: a recipe is a few hundred bytes of JSON (the rows of a file
stay in the file), every step is deterministic (mixing and shuffling are seeded), and the same
function applies a step live and on replay, so a rebuilt dataset is the dataset the user made.
A step that failed changed nothing and is not recorded.

Example::

    recipes = DataRecipes(store, resolver=resolver, settings=settings, processes=lambda: pool)
    dataset = recipes.create(user_id, meta_fields)            # (dataset id made by the registry)
    recipes.apply(dataset, "map", {"preprocessor": "SelfCognitionProcessor"})
    recipes.rebuild("ds", user_id, "ds_...")                  # after a restart; None if unknown
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twinkle_server.config import Settings
from twinkle_server.store import data_recipes as records
from twinkle_server.store.db import Store

__all__ = ["DataRecipes"]


class DataRecipes:
    """Applies, records and replays the steps of users' datasets and dataloaders."""

    def __init__(
        self, store: Store, *, resolver: Any, settings: Settings, processes: Callable[[], Any]
    ) -> None:
        self.store = store
        self.resolver = resolver
        self.settings = settings
        self.processes = processes  # the server's encode pool, made on first use

    # -- building -------------------------------------------------------------------------------

    def new_dataset(self, meta_fields: dict[str, Any]) -> Any:
        from twinkle_server.data.dataset import Dataset
        from twinkle_server.data.meta import DatasetMeta

        return Dataset(DatasetMeta(**meta_fields), resolver=self.resolver)

    def apply(self, dataset: Any, op: str, args: dict[str, Any]) -> None:
        """Apply step ``op`` (a dataset operation's name without ``dataset_``) with ``args``."""
        from twinkle_server.data.meta import DatasetMeta

        max_rows = self.settings.max_dataset_rows
        if op == "set_template":
            kwargs = {k: v for k, v in args.items() if k != "template_name"}
            dataset.set_template(args["template_name"], **kwargs)
        elif op == "map":
            dataset.map(args["preprocessor"], args.get("init_args"))
        elif op == "filter":
            dataset.filter(args["filter_name"], args.get("init_args"))
        elif op == "encode":
            dataset.encode(
                batched=args.get("batched", True), num_proc=args.get("num_proc"), processes=self.processes()
            )
        elif op == "add":
            dataset.add_dataset(DatasetMeta(**args["dataset_meta"]), max_rows=max_rows)
        elif op == "mix":
            dataset.mix_dataset(
                args.get("mode", "interleave"),
                probabilities=args.get("probabilities"),
                seed=args.get("seed", 0),
                max_rows=max_rows,
            )
        else:
            raise ValueError(f"unknown dataset step {op!r}")

    @staticmethod
    def new_loader(dataset: Any, params: dict[str, Any]) -> Any:
        from twinkle_server.data.dataloader import DataLoader

        return DataLoader(
            dataset,
            params["batch_size"],
            shuffle=params.get("shuffle", False),
            seed=params.get("seed", 0),
            drop_last=params.get("drop_last", False),
            epochs=params.get("epochs", 1),
        )

    # -- recording ------------------------------------------------------------------------------

    def record_dataset(self, item_id: str, user_id: str, meta_fields: dict[str, Any]) -> None:
        with self.store.session() as s:
            records.add_recipe(
                s, item_id=item_id, user_id=user_id, kind="dataset", params={"dataset_meta": meta_fields}
            )

    def record_step(self, item_id: str, user_id: str, op: str, args: dict[str, Any]) -> int:
        """Append an applied step; the dataset's step count (a loader made now captures this many)."""
        with self.store.session() as s:
            return records.add_step(s, user_id=user_id, item_id=item_id, step={"op": op, "args": args})

    def steps_of(self, item_id: str, user_id: str) -> int:
        with self.store.read_session() as s:
            row = records.get_recipe(s, user_id=user_id, item_id=item_id)
            return len(row.steps) if row is not None else 0

    def record_loader(
        self, item_id: str, user_id: str, *, dataset_id: str, dataset_steps: int, params: dict[str, Any]
    ) -> None:
        recipe = {"dataset_id": dataset_id, "dataset_steps": dataset_steps, "loader": params}
        with self.store.session() as s:
            records.add_recipe(s, item_id=item_id, user_id=user_id, kind="dataloader", params=recipe)

    def record_consumed(self, item_id: str, user_id: str, consumed_batches: int) -> None:
        with self.store.session() as s:
            records.set_consumed(s, user_id=user_id, item_id=item_id, consumed_batches=consumed_batches)

    # -- replaying ------------------------------------------------------------------------------

    def rebuild(self, prefix: str, user_id: str, item_id: str) -> Any | None:
        """The caller's dataset (``ds``) or dataloader (``dl``) built again from its recipe, or None
        when the store has no recipe of theirs under that id."""
        with self.store.read_session() as s:
            row = records.get_recipe(s, user_id=user_id, item_id=item_id)
            if row is None or row.kind != {"ds": "dataset", "dl": "dataloader"}.get(prefix):
                return None
            steps, params, consumed = list(row.steps), dict(row.params), row.consumed_batches
        if prefix == "ds":
            return self._replay(user_id, params, steps)
        source = self._source_of(user_id, params["dataset_id"])
        if source is None:
            return None
        dataset = self._replay(user_id, source[0], source[1][: params["dataset_steps"]])
        loader = self.new_loader(dataset, params["loader"])
        if consumed:
            loader.load_state_dict({"consumed_batches": min(consumed, len(loader))})
        return loader

    def _source_of(self, user_id: str, dataset_id: str) -> tuple[dict[str, Any], list[Any]] | None:
        with self.store.read_session() as s:
            row = records.get_recipe(s, user_id=user_id, item_id=dataset_id)
            return None if row is None else (dict(row.params), list(row.steps))

    def _replay(self, user_id: str, params: dict[str, Any], steps: list[dict[str, Any]]) -> Any:
        dataset = self.new_dataset(params["dataset_meta"])
        for step in steps:
            self.apply(dataset, step["op"], step["args"])
        return dataset
