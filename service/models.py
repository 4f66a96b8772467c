"""Every model, imported in one place for Alembic and the shell."""

from .accounts.models import ApiKey, AuthSession, LoginFailures, RefreshToken, User
from .analytics.models import AnalyticsDay, BookedMembership, BookedPayment, MembershipEvent
from .billing.models import (
    CheckoutSession,
    ConnectedAccount,
    Customer,
    Dispute,
    IdempotentRequest,
    Payment,
    ProviderPrice,
    Purchase,
    Refund,
    Subscription,
    WebhookEvent,
)
from .catalog.models import Offering, Price
from .content.models import Post
from .creators.models import Creator, CreatorTag
from .followers.models import Follow
from .growth.models import (
    Referral,
    ReferralCode,
    ReferralReward,
    RewardGrant,
    UpgradeOffer,
    UpgradeRedemption,
)
from .integrations.models import Delivery as WebhookDelivery
from .integrations.models import DeliveryAttempt, Event, EventSequence, WebhookEndpoint
from .jobs.models import Job
from .localpay.models import LocalObject
from .messaging.models import (
    Block,
    Broadcast,
    BroadcastRecipient,
    Conversation,
    ConversationMember,
    Message,
    Report,
)
from .notifications.models import (
    Email,
    LocalMail,
    Notification,
    NotificationSetting,
    PendingDigest,
    Suppression,
)

__all__ = [
    "AnalyticsDay",
    "BookedMembership",
    "BookedPayment",
    "MembershipEvent",
    "CheckoutSession",
    "ConnectedAccount",
    "Customer",
    "Dispute",
    "IdempotentRequest",
    "Payment",
    "ProviderPrice",
    "Purchase",
    "ReferralReward",
    "Refund",
    "RewardGrant",
    "Subscription",
    "UpgradeOffer",
    "UpgradeRedemption",
    "WebhookEvent",
    "ApiKey",
    "AuthSession",
    "Block",
    "Broadcast",
    "BroadcastRecipient",
    "Conversation",
    "ConversationMember",
    "Creator",
    "CreatorTag",
    "Follow",
    "Referral",
    "ReferralCode",
    "DeliveryAttempt",
    "Email",
    "LocalMail",
    "Notification",
    "NotificationSetting",
    "PendingDigest",
    "Suppression",
    "Event",
    "EventSequence",
    "Job",
    "WebhookDelivery",
    "WebhookEndpoint",
    "LocalObject",
    "LoginFailures",
    "Message",
    "Offering",
    "Post",
    "Price",
    "RefreshToken",
    "Report",
    "User",
]
