"""Demo staff: one user per role (two for Finance, maker and checker), so each role can be tried."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group

from apps.core.audit import audit_record
from apps.core.roles import COMPLIANCE, FINANCE, INTEGRATIONS, RETENTION

# username -> role (Django group made by the migrations)
DEMO_STAFF = {
    "finance-demo-maker": FINANCE,
    "finance-demo-checker": FINANCE,
    "retention-demo": RETENTION,
    "compliance-demo": COMPLIANCE,
    "integrations-demo": INTEGRATIONS,
}


def demo_staff_ensure(*, password: str | None) -> dict[str, object]:
    """Create the demo staff users that do not exist yet (existing ones keep their password);
    without a password they get an unusable one."""
    User = get_user_model()
    groups = {g.name: g for g in Group.objects.filter(name__in=set(DEMO_STAFF.values()))}
    hashed = make_password(
        password
    )  # one (slow, salted) hash shared by the demo users; None: unusable
    users = {}
    for username, role in DEMO_STAFF.items():
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User.objects.create(
                username=username,
                email=f"{username}@affiliatehub.demo",
                password=hashed,
                is_staff=True,
            )
            user.groups.set([groups[role]])
            audit_record(
                action="user.created",
                instance=user,
                actor_label="demo_seed",
                after={"username": username, "groups": [role], "is_staff": True},
            )
        users[username] = user
    return users
