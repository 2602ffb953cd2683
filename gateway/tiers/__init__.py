"""Member tiers: each tier's discount policy (银卡/金卡/钻石卡 rates, birthday rate, points)."""
