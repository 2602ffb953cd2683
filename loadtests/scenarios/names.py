"""Request names in the Locust report, and which of them create coupons in which campaign.

Kept free of Locust imports: the end-of-run check (`loadtests/consistency.py`) reads it too.
"""

from __future__ import annotations

FLASH_CLAIM = "flash claim"
FLASH_CLAIM_AGAIN = "flash claim again"
SHOP_REGISTER = "shop register"
SHOP_WALLET = "shop wallet"
SHOP_CLAIM = "shop claim"
SHOP_QUOTE = "shop quote"
SHOP_RESERVE = "shop reserve"
SHOP_COMMIT = "shop commit"
SHOP_CANCEL = "shop cancel"
OPERATOR_STATS = "operator stats"
OPERATOR_RESTOCK = "operator restock"
OPERATOR_METRICS = "operator metrics"
CLERK_GRANT = "clerk grant"
CLERK_COUPON = "clerk coupon"
PAGE_REGISTER = "page register"
PAGE_TOKEN = "page member token"
PAGE_LOAD = "page load"
PAGE_STOCK = "page stock"
PAGE_CLAIM = "page claim"
FRIEND_REGISTER = "friend register"
FRIEND_GIFT_CLAIM = "friend gift claim"
FRIEND_TRANSFER = "friend transfer"
FRIEND_WALLET = "friend wallet"
FRIEND_QUOTE = "friend quote"
FRIEND_RESERVE = "friend reserve"
FRIEND_COMMIT = "friend commit"
FRIEND_CANCEL = "friend cancel"

#: Requests whose 201 is one coupon claimed, per campaign of the fixture.
CLAIMS = {
    "flash": (FLASH_CLAIM, FLASH_CLAIM_AGAIN, PAGE_CLAIM),
    "shop": (SHOP_CLAIM,),
    "gift": (FRIEND_GIFT_CLAIM,),
}

#: Domain counts the scenarios add to the tally (`<what>|<campaign>`).
GRANTED = "granted|store"
#: Claims, grants or commits whose outcome stayed unknown (timeouts, 503 after every retry, a
#: user killed mid-request at the stop): `unknown|flash`, `unknown|store`, `unknown|commit`.
UNKNOWN = "unknown|"
#: Correct refusals by campaign and code (`refused|flash|sold_out`).
REFUSED = "refused|"
COMMITTED_ORDERS = "orders|committed"
CANCELLED_ORDERS = "orders|cancelled"
RESTOCKED = "restocked|flash"
#: Coupons given by transfer (`POST /v1/coupons/{code}/transfer` answered 201), and members
#: registered with a `referred_by` inviter (RewardShopper).
TRANSFERRED = "transferred|gift"
REFERRED = "registered|referred"

USER_CLASSES = ("FlashClaimer", "Shopper", "Operator", "Clerk", "PageClaimer", "RewardShopper")
