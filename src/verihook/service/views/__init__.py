"""The response bodies: typed views of what the service's use cases return, rendered as they are by the API (and
described by /openapi.json). Every decision about what a caller sees (secrets and URL passwords redacted, the
rolled-up delivery status) is made here, once."""

from __future__ import annotations

from verihook.redaction import REDACTED, url_redacted
from verihook.service.views.common import HealthOut, PageOut, ReadyOut
from verihook.service.views.endpoints import (
    AuthOut,
    EndpointOut,
    EndpointPage,
    EndpointSecretsOut,
    EndpointTestOut,
    RecoveredOut,
    RetryOut,
    auth_shown,
)
from verihook.service.views.events import (
    AttemptOut,
    DeliveryOut,
    EventDetailOut,
    EventOut,
    EventPage,
    EventTypeListOut,
    EventTypeOut,
    PublishedBatchOut,
    PublishedOut,
    RedeliveredOut,
)
from verihook.service.views.subjects import (
    StatusChangeOut,
    SubjectChangedOut,
    SubjectDetailOut,
    SubjectOut,
    SubjectPage,
)
from verihook.service.views.tenants import (
    ApiKeyList,
    ApiKeyOut,
    NewApiKeyOut,
    NewTenantOut,
    PortalLinkOut,
    TenantOut,
    TenantPage,
    TenantSecretOut,
)
from verihook.service.views.validas import (
    ValidasEventDetailOut,
    ValidasEventOut,
    ValidasEventPage,
    ValidationOut,
    ValidationPage,
    WebhookSettingOut,
)

__all__ = [
    "REDACTED",
    "ApiKeyList",
    "ApiKeyOut",
    "AttemptOut",
    "AuthOut",
    "DeliveryOut",
    "EndpointOut",
    "EndpointPage",
    "EndpointSecretsOut",
    "EndpointTestOut",
    "EventDetailOut",
    "EventOut",
    "EventPage",
    "EventTypeListOut",
    "EventTypeOut",
    "HealthOut",
    "NewApiKeyOut",
    "NewTenantOut",
    "PageOut",
    "PortalLinkOut",
    "PublishedBatchOut",
    "PublishedOut",
    "ReadyOut",
    "RecoveredOut",
    "RedeliveredOut",
    "RetryOut",
    "StatusChangeOut",
    "SubjectChangedOut",
    "SubjectDetailOut",
    "SubjectOut",
    "SubjectPage",
    "TenantOut",
    "TenantPage",
    "TenantSecretOut",
    "ValidasEventDetailOut",
    "ValidasEventOut",
    "ValidasEventPage",
    "ValidationOut",
    "ValidationPage",
    "WebhookSettingOut",
    "auth_shown",
    "url_redacted",
]
