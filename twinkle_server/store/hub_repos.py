"""Ownership of hub repositories: the first user to publish to ``hub``/``org/name`` owns it.

Uploads go out with the server's hub tokens (or the uploader's own), so without a record any
user could replace another user's published adapter. ``claim_hub_repository`` is called before
an upload starts; it records the caller as owner or says who already is.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from twinkle_server.store.models import HubRepository

__all__ = ["claim_hub_repository", "hub_repository_owner"]


def _key(hub_model_id: str) -> str:
    return hub_model_id.lower()


def hub_repository_owner(s: Session, *, hub: str, hub_model_id: str) -> str | None:
    """The user id that owns ``hub_model_id`` on ``hub`` (case-insensitive), or None if unclaimed."""
    row = s.get(HubRepository, (hub, _key(hub_model_id)))
    return None if row is None else row.user_id


def claim_hub_repository(s: Session, *, user_id: str, hub: str, hub_model_id: str) -> bool:
    """Record ``user_id`` as the owner of an unclaimed repository; True if the caller owns it now.

    False means another user owns it (the caller must not publish there). Safe under concurrent
    claims: the primary key lets only one insert win; the loser reads the winner.
    """
    owner = hub_repository_owner(s, hub=hub, hub_model_id=hub_model_id)
    if owner is None:
        try:
            with s.begin_nested():
                key = _key(hub_model_id)
                s.add(HubRepository(hub=hub, repo_key=key, hub_model_id=hub_model_id, user_id=user_id))
        except IntegrityError:
            owner = s.execute(
                select(HubRepository.user_id).where(
                    HubRepository.hub == hub, HubRepository.repo_key == _key(hub_model_id)
                )
            ).scalar_one()
        else:
            owner = user_id
    return owner == user_id
