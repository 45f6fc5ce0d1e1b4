from __future__ import annotations

import pytest
from pydantic import ValidationError

from knowledge.access import AccessPolicy, acl_filter
from knowledge.types import AccessScope

POLICY = AccessPolicy(groups={"hr-team": ["C0HR"], "security": ["C0SEC", "C0IT"], "everyone": ["*"]})


def test_known_channel_gets_its_groups_and_the_open_ones() -> None:
    assert POLICY.scope_for("C0IT").groups == {"security", "everyone"}
    assert POLICY.scope_for("C0HR").groups == {"hr-team", "everyone"}


def test_unknown_channel_gets_only_open_groups() -> None:
    assert POLICY.scope_for("C0NOBODY").groups == {"everyone"}


def test_channel_ids_match_exactly_not_by_prefix() -> None:
    assert POLICY.scope_for("C0H").groups == {"everyone"}
    assert POLICY.scope_for("c0hr").groups == {"everyone"}


def test_without_open_groups_an_unknown_channel_sees_nothing() -> None:
    scope = AccessPolicy(groups={"hr-team": ["C0HR"]}).scope_for("C0ENG")
    assert scope.is_empty


def test_empty_scope_has_no_filter() -> None:
    with pytest.raises(ValueError, match="empty access scope"):
        acl_filter(AccessScope("C0X", frozenset()))


def test_filter_lists_exactly_the_scope_groups() -> None:
    rendered = str(acl_filter(POLICY.scope_for("C0IT")))
    assert "security" in rendered and "everyone" in rendered and "hr-team" not in rendered


def test_restricted_means_no_open_group() -> None:
    assert POLICY.is_restricted(["hr-team"])
    assert not POLICY.is_restricted(["hr-team", "everyone"])


@pytest.mark.parametrize("bad", [{"": ["C1"]}, {"a*": ["C1"]}, {"ok": [""]}])
def test_bad_group_definitions_are_refused(bad: dict[str, list[str]]) -> None:
    with pytest.raises(ValidationError):
        AccessPolicy(groups=bad)
