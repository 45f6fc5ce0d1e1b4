"""Per-channel access control: the only place a channel becomes a scope and a scope a filter.

A chunk carries `acl`, the groups allowed to read it. A channel's scope is every group
that lists the channel, plus every group open to all channels (`"*"`). The Weaviate
filter is `acl contains_any <scope groups>`; Weaviate applies it as an allow-list before
ranking, so forbidden chunks never take a top-k slot.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator
from weaviate.classes.query import Filter
from weaviate.collections.classes.filters import _Filters

from knowledge.types import AccessScope

EVERY_CHANNEL = "*"
ACL_PROPERTY = "acl"


class AccessPolicy(BaseModel):
    """`access:` in the settings file: group name -> channels that may read it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    groups: dict[str, list[str]] = Field(
        default_factory=dict,
        description='Access group -> channel ids allowed to read its documents; "*" means every channel.',
    )

    @field_validator("groups")
    @classmethod
    def _check_group_names(cls, groups: dict[str, list[str]]) -> dict[str, list[str]]:
        for name, channels in groups.items():
            if not name or name != name.strip() or EVERY_CHANNEL in name:
                raise ValueError(f"invalid access group name {name!r}")
            if any(not isinstance(c, str) or not c.strip() for c in channels):
                raise ValueError(f"group {name!r} lists an empty channel id")
        return groups

    def scope_for(self, channel: str) -> AccessScope:
        """The groups `channel` may read. Unknown channels get only the open groups."""
        groups = frozenset(
            name for name, channels in self.groups.items() if EVERY_CHANNEL in channels or channel in channels
        )
        return AccessScope(channel=channel, groups=groups)

    def unknown_groups(self, audience: tuple[str, ...] | list[str]) -> list[str]:
        """Audience names that are not defined groups (a post naming them is refused)."""
        return [g for g in audience if g not in self.groups]

    def is_restricted(self, audience: tuple[str, ...] | list[str]) -> bool:
        """True when no group of `audience` is open to every channel."""
        return not any(EVERY_CHANNEL in self.groups.get(g, []) for g in audience)


def acl_filter(scope: AccessScope) -> _Filters:
    """The one Weaviate filter for a scope. Callers must not query an empty scope."""
    if scope.is_empty:
        raise ValueError("an empty access scope has no filter: it must match nothing")
    return Filter.by_property(ACL_PROPERTY).contains_any(sorted(scope.groups))
