"""Affiliate postbacks and `player.attributed`: what the outside world is told about a player's
affiliate relationship and conversions, and when (the domain half; the transport is the outbound
room's `postback_enqueue`, the settings are apps.affiliates' `PostbackTemplate`)."""
