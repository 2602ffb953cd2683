"""Rewards (开卡礼, 首单礼, 推荐有礼, 转赠有礼, 满赠, 生日礼, 回归礼): the outbox's worker."""
