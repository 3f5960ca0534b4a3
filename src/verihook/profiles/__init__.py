"""The profile registry: which profile owns which event type, and each profile by name."""

from __future__ import annotations

from collections.abc import Iterable

from verihook.errors import InvalidInput
from verihook.policy import RetryPolicy
from verihook.profiles.attestr import attestr_profile
from verihook.profiles.base import EVENT_TYPE_NAME, DeliveryDefaults, EventType, Message, Profile
from verihook.profiles.credas import credas_profile
from verihook.profiles.incode import incode_profile
from verihook.profiles.standard import standard_profile
from verihook.profiles.validas import validas_profile

__all__ = ["DeliveryDefaults", "EventType", "Message", "Profile", "ProfileRegistry", "default_registry"]

DEFAULT_PROFILE = "standard"


class ProfileRegistry:
    def __init__(self, profiles: Iterable[Profile]) -> None:
        self._profiles = {profile.name: profile for profile in profiles}
        self._owner: dict[str, Profile] = {}
        self._presets: dict[str, RetryPolicy] = {}
        for profile in self._profiles.values():
            for name in profile.event_types:
                if name in self._owner:
                    raise ValueError(f"event type {name} is claimed by two profiles")
                self._owner[name] = profile
            for name, policy in profile.retry_presets.items():
                if name in self._presets:
                    raise ValueError(f"retry preset {name} is defined by two profiles")
                self._presets[name] = policy

    @property
    def names(self) -> list[str]:
        return sorted(self._profiles)

    def get(self, name: str | None) -> Profile:
        return self._profiles[name or DEFAULT_PROFILE]

    def check_name(self, name: str, field: str = "profile") -> str:
        if name not in self._profiles:
            raise InvalidInput(f"unknown profile {name!r}; known: {', '.join(self.names)}", field=field)
        return name

    def owner_of(self, event_type: str) -> Profile | None:
        """The seed profile that owns `event_type`, or None for a free (standard) type."""
        return self._owner.get(event_type)

    def event_type(self, name: str) -> EventType | None:
        """A profile's event type by name, or None for a free (standard) type."""
        owner = self._owner.get(name)
        return None if owner is None else owner.event_types[name]

    def retry_preset(self, name: object, field: str = "retry.preset") -> RetryPolicy:
        if not isinstance(name, str) or name not in self._presets:
            raise InvalidInput(f"unknown retry preset {name!r}; known: {', '.join(sorted(self._presets))}",
                               field=field)
        return self._presets[name]

    def catalog(self) -> list[EventType]:
        return [t for p in self._profiles.values() for t in p.event_types.values()]

    def check_event_type_name(self, name: object, field: str = "type") -> str:
        if not isinstance(name, str) or not (name in self._owner or EVENT_TYPE_NAME.match(name)):
            raise InvalidInput(
                f"unknown event type {name!r}: use a type from GET /v1/event-types or a dotted lower-case "
                "name such as 'process.completed'", field=field)
        return name


def default_registry() -> ProfileRegistry:
    return ProfileRegistry([standard_profile(), credas_profile(), attestr_profile(), validas_profile(),
                            incode_profile()])
