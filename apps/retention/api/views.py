"""GET /api/v1/players/ with the retention filters (WEBHOOKS.md §4; issue 7 §5).

The endpoint's shape is the players app's `PlayerListView`; it is mounted from here because its
filters (KYC, self-exclusion, deposits, NGR) need compliance, which sits above players. The
selector and FilterSet are the ones the retention admin and its exports use.
"""

from __future__ import annotations

from apps.players.api.views import PlayerListView
from apps.retention.filters import RetentionPlayerFilter
from apps.retention.selectors import retention_player_list


class RetentionPlayerListView(PlayerListView):
    filterset_class = RetentionPlayerFilter

    def select(self, filters):
        return retention_player_list(filters=filters)
