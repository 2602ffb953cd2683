"""One message catalogue for every page: Chinese first, English second.

`MESSAGES[id]` holds the `zh` and `en` text of one message; templates call `t("id")` (a Jinja
global that reads the page's language from the template context), Python calls `text(id,
lang)`. Placeholders are `str.format` fields: `t("claim.remaining", n=12)`. The member's pages
and the back office share the catalogue; each keeps its ids in its own block, prefixed
(`claim.`, `wallet.`, `console.`).
"""

from __future__ import annotations

from typing import Any, Literal

from jinja2 import pass_context
from jinja2.runtime import Context

Language = Literal["zh", "en"]

MESSAGES: dict[str, dict[str, str]] = {
    # --- shared by every page --------------------------------------------------------------
    "site.name": {"zh": "优惠券", "en": "Coupons"},
    "site.lang": {"zh": "zh-CN", "en": "en"},
    "site.error": {"zh": "出错了，请稍后再试", "en": "Something went wrong; please try again"},
    "site.loading": {"zh": "加载中…", "en": "Loading…"},
    # --- the member's pages: offers (gateway/pages/offers.py) ------------------------------
    "offer.threshold": {"zh": "满{min}减{amount}", "en": "¥{amount} off ¥{min}"},
    "offer.no_threshold": {"zh": "无门槛{amount}元", "en": "¥{amount} off, no minimum"},
    "offer.percent": {"zh": "{zhe}折", "en": "{percent}% off"},
    "offer.cap": {"zh": "，最高减{cap}元", "en": ", up to ¥{cap}"},
    "offer.min_spend": {"zh": "满{min}元享", "en": "From ¥{min}: "},
    "offer.exchange": {"zh": "兑换 {sku}", "en": "Free {sku}"},
    "offer.gift": {"zh": "礼品 {sku}", "en": "Gift: {sku}"},
    "offer.points": {"zh": "积分 {points}", "en": "{points} points"},
    "offer.valid_days": {
        "zh": "领取后{days}天内有效",
        "en": "Valid for {days} days after claiming",
    },
    "offer.valid_between": {"zh": "有效期 {start} 至 {end}", "en": "Valid {start} to {end}"},
    "offer.claim_window": {"zh": "领取时间 {start} 至 {end}", "en": "Claim from {start} to {end}"},
    "kind.percent": {"zh": "折扣券", "en": "Discount coupon"},
    "kind.amount": {"zh": "代金券", "en": "Cash coupon"},
    "kind.threshold": {"zh": "满减券", "en": "Spend-and-save coupon"},
    "kind.exchange": {"zh": "兑换券", "en": "Exchange coupon"},
    "kind.gift": {"zh": "礼品券", "en": "Gift coupon"},
    "kind.points": {"zh": "积分券", "en": "Points coupon"},
    "scope.limited": {"zh": "限指定商品使用", "en": "Selected products only"},
    "scope.stores": {"zh": "限指定门店使用", "en": "Selected stores only"},
    "channels.online": {"zh": "线上可用", "en": "Online"},
    "channels.store": {"zh": "门店可用", "en": "In store"},
    "channels.both": {"zh": "线上线下通用", "en": "Online and in store"},
    # --- tiers and points: the wallet's card and the back office's member page ------------
    "tier.standard": {"zh": "普通会员", "en": "Standard"},
    "tier.silver": {"zh": "银卡", "en": "Silver"},
    "tier.gold": {"zh": "金卡", "en": "Gold"},
    "tier.diamond": {"zh": "钻石卡", "en": "Diamond"},
    "points.kind.earn": {"zh": "消费获得", "en": "Earned on an order"},
    "points.kind.earn_pending": {"zh": "消费获得（待生效）", "en": "Earned on an order (pending)"},
    "points.kind.activate": {"zh": "积分生效", "en": "Pending points now count"},
    "points.kind.spend": {"zh": "积分兑换", "en": "Exchanged"},
    "points.kind.reverse": {"zh": "退款扣回", "en": "Taken back on a refund"},
    "points.kind.expire": {"zh": "积分过期", "en": "Expired"},
    "points.kind.transfer_in": {"zh": "好友赠送", "en": "From a friend"},
    "points.kind.transfer_out": {"zh": "赠送好友", "en": "Given to a friend"},
    "points.kind.adjust": {"zh": "客服调整", "en": "Adjusted by the mall"},
    "points.kind.reward": {"zh": "活动奖励", "en": "Reward"},
    # --- the member's pages: claim (gateway/pages/controllers.py, static/claim.js) ---------
    "claim.title": {"zh": "领取优惠券", "en": "Claim a coupon"},
    "claim.remaining": {"zh": "剩余 {n} 张", "en": "{n} left"},
    "claim.limit": {"zh": "每人限领 {n} 张", "en": "Limit {n} per member"},
    "claim.button": {"zh": "立即领取", "en": "Claim now"},
    "claim.claiming": {"zh": "领取中…", "en": "Claiming…"},
    "claim.done": {"zh": "领取成功", "en": "Claimed"},
    "claim.show_at_till": {"zh": "结账时出示此码", "en": "Show this code at the till"},
    "claim.valid_until": {"zh": "有效期至 {t}", "en": "Valid until {t}"},
    "claim.to_wallet": {"zh": "查看我的券包", "en": "My coupons"},
    "claim.countdown": {"zh": "距开抢还有 {t}", "en": "Starts in {t}"},
    "claim.member": {"zh": "会员 {id}", "en": "Member {id}"},
    "claim.open_in_app": {
        "zh": "请在商城App中打开此链接领取",
        "en": "Open this link from the mall's app to claim",
    },
    "claim.demo_member": {"zh": "演示：输入会员号", "en": "Demo: member id"},
    "claim.demo_go": {"zh": "以此会员打开", "en": "Open as this member"},
    "claim.demo_unknown": {"zh": "该会员未注册", "en": "That member is not registered"},
    "claim.not_found": {"zh": "活动不存在", "en": "No such campaign"},
    "claim.exchange": {"zh": "{n} 积分兑换", "en": "Exchange for {n} points"},
    "claim.exchanging": {"zh": "兑换中…", "en": "Exchanging…"},
    "claim.exchanged": {"zh": "兑换成功，已使用 {n} 积分", "en": "Exchanged for {n} points"},
    "claim.price": {"zh": "兑换价 {n} 积分", "en": "Price: {n} points"},
    "claim.exchange_final": {"zh": "积分兑换后不可撤销", "en": "Exchanges are final"},
    "refusal.insufficient_points": {"zh": "积分不足", "en": "Not enough points"},
    "refusal.member_not_found": {
        "zh": "会员不存在，请从商城App重新打开",
        "en": "Member not found; open the link from the mall's app again",
    },
    "refusal.exchange_only": {
        "zh": "此券需用积分兑换",
        "en": "This coupon is exchanged for points",
    },
    "refusal.not_exchangeable": {"zh": "此券不能用积分兑换", "en": "This coupon is not for points"},
    "refusal.sold_out": {"zh": "已抢光", "en": "All gone"},
    "refusal.limit_reached": {"zh": "已领取", "en": "Already claimed"},
    "refusal.not_started": {"zh": "未开始", "en": "Not started yet"},
    "refusal.ended": {"zh": "已结束", "en": "This offer has ended"},
    "refusal.not_live": {"zh": "活动未上线", "en": "This offer is not available"},
    "refusal.invalid_token": {
        "zh": "链接无效，请使用活动分享的链接",
        "en": "This link is not valid; use the link the campaign shared",
    },
    "refusal.unauthorized": {
        "zh": "登录已过期，请从商城App重新打开",
        "en": "Your session has expired; open the link from the mall's app again",
    },
    "refusal.rate_limited": {"zh": "操作太频繁，请稍后再试", "en": "Too many tries; wait a moment"},
    "refusal.campaign_not_found": {"zh": "活动不存在", "en": "No such campaign"},
    "refusal.unavailable": {"zh": "系统繁忙，请稍后再试", "en": "Busy; please try again"},
    "refusal.network": {"zh": "网络异常，请重试", "en": "Network problem; please retry"},
    # --- the member's pages: wallet (gateway/pages/controllers.py, static/wallet.js) -------
    "wallet.title": {"zh": "我的券包", "en": "My coupons"},
    "wallet.empty": {"zh": "暂无优惠券", "en": "No coupons yet"},
    "wallet.state.active": {"zh": "可使用", "en": "Ready to use"},
    "wallet.state.reserved": {"zh": "使用中", "en": "In an order"},
    "wallet.state.redeemed": {"zh": "已使用", "en": "Used"},
    "wallet.state.expired": {"zh": "已过期", "en": "Expired"},
    "wallet.state.transferred": {"zh": "已转赠", "en": "Given away"},
    "wallet.state.revoked": {"zh": "已作废", "en": "Cancelled"},
    "wallet.valid": {"zh": "有效期至 {end}", "en": "Valid until {end}"},
    "wallet.transfer": {"zh": "转赠好友", "en": "Give to a friend"},
    "wallet.friend": {"zh": "好友会员号", "en": "Friend's member id"},
    "wallet.send": {"zh": "确认转赠", "en": "Give"},
    "wallet.sent": {"zh": "已转赠给 {id}", "en": "Given to {id}"},
    "wallet.received_from": {"zh": "好友转赠：{path}", "en": "Given by a friend: {path}"},
    "wallet.not_transferable": {"zh": "不可转赠", "en": "Cannot be given away"},
    "wallet.card.since": {"zh": "{date} 起", "en": "Since {date}"},
    "wallet.card.spend": {
        "zh": "近12个月消费 ¥{amount}",
        "en": "¥{amount} spent in the last 12 months",
    },
    "wallet.card.next": {
        "zh": "再消费 ¥{amount} 升级{tier}",
        "en": "Spend ¥{amount} more for {tier}",
    },
    "wallet.card.next_reached": {
        "zh": "已达{tier}标准，下一笔订单后升级",
        "en": "You qualify for {tier}: your next order moves you up",
    },
    "wallet.card.top": {"zh": "已是最高等级", "en": "You are at the top tier"},
    "wallet.card.keep": {
        "zh": "保级：{date} 前再消费 ¥{amount}",
        "en": "Keep {tier}: spend ¥{amount} more before {date}",
    },
    "wallet.card.kept": {
        "zh": "已达保级标准（{date} 复核）",
        "en": "{tier} is kept at the review on {date}",
    },
    "wallet.points.title": {"zh": "我的积分", "en": "My points"},
    "wallet.points.balance": {"zh": "可用积分", "en": "Available points"},
    "wallet.points.pending": {"zh": "待生效 {n}", "en": "{n} pending"},
    "wallet.points.expiry": {"zh": "{n} 积分将于 {date} 过期", "en": "{n} points expire on {date}"},
    "wallet.points.history": {"zh": "积分明细", "en": "Points history"},
    "wallet.points.history_empty": {"zh": "暂无积分记录", "en": "No points yet"},
    "wallet.points.with": {"zh": "好友 {id}", "en": "Friend {id}"},
    "refusal.not_owner": {"zh": "这张券不属于你", "en": "This coupon is not yours"},
    "refusal.not_transferable": {"zh": "这张券不能转赠", "en": "This coupon cannot be given away"},
    "refusal.not_active": {"zh": "这张券已不可用", "en": "This coupon can no longer be used"},
    "refusal.recipient_not_registered": {
        "zh": "好友还不是会员，请先注册",
        "en": "Your friend is not a member yet",
    },
    "refusal.same_member": {"zh": "不能转赠给自己", "en": "You cannot give it to yourself"},
    "refusal.coupon_not_found": {"zh": "券码不存在", "en": "No such coupon"},
    "refusal.invalid_request": {"zh": "请检查输入", "en": "Please check what you entered"},
    # --- the back office (/console) --------------------------------------------------------
    "console.title": {"zh": "券后台", "en": "Coupon back office"},
    "console.nav.campaigns": {"zh": "活动", "en": "Campaigns"},
    "console.nav.new": {"zh": "新建活动", "en": "New campaign"},
    "console.nav.members": {"zh": "会员", "en": "Members"},
    "console.nav.tiers": {"zh": "等级", "en": "Tiers"},
    "console.nav.programme": {"zh": "积分与等级规则", "en": "Programme"},
    "console.nav.store": {"zh": "门店", "en": "In store"},
    "console.signout": {"zh": "退出", "en": "Sign out"},
    "console.signin.title": {"zh": "登录后台", "en": "Sign in"},
    "console.signin.help": {
        "zh": "输入运营（admin）或店员（clerk）API 密钥。密钥只保存在本标签页，关闭即失效。",
        "en": "Enter an admin or clerk API key. It is kept in this tab only and gone when "
        "the tab closes.",
    },
    "console.signin.key": {"zh": "API 密钥", "en": "API key"},
    "console.signin.submit": {"zh": "登录", "en": "Sign in"},
    "console.signin.unknown": {"zh": "密钥无效", "en": "Unknown key"},
    "console.signin.role": {
        "zh": "此密钥的角色（{role}）不能使用后台",
        "en": "A key of role {role} cannot use the back office",
    },
    "console.who": {"zh": "{name}（{role}）", "en": "{name} ({role})"},
    "console.role.admin": {"zh": "运营", "en": "operator"},
    "console.role.clerk": {"zh": "店员", "en": "clerk"},
    "console.campaigns.title": {"zh": "活动", "en": "Campaigns"},
    "console.campaigns.all": {"zh": "全部状态", "en": "All statuses"},
    "console.campaigns.search": {"zh": "按名称搜索", "en": "Search names"},
    "console.campaigns.filter": {"zh": "筛选", "en": "Filter"},
    "console.campaigns.offer": {"zh": "优惠", "en": "Offer"},
    "console.campaigns.status": {"zh": "状态", "en": "Status"},
    "console.campaigns.empty": {"zh": "还没有活动", "en": "No campaigns yet"},
    "console.campaigns.more": {"zh": "更多", "en": "More"},
    "console.status.draft": {"zh": "草稿", "en": "Draft"},
    "console.status.live": {"zh": "进行中", "en": "Live"},
    "console.status.paused": {"zh": "已暂停", "en": "Paused"},
    "console.status.closed": {"zh": "已结束", "en": "Closed"},
    "console.stats.stock_total": {"zh": "总库存", "en": "Stock"},
    "console.stats.remaining": {"zh": "剩余", "en": "Remaining"},
    "console.stats.claimed": {"zh": "已领取", "en": "Claimed"},
    "console.stats.redeemed": {"zh": "已核销", "en": "Redeemed"},
    "console.stats.claim_rate": {"zh": "领取率", "en": "Claim rate"},
    "console.stats.redemption_rate": {"zh": "核销率", "en": "Redemption rate"},
    "console.new.title": {"zh": "新建活动", "en": "New campaign"},
    "console.new.submit": {"zh": "创建（草稿）", "en": "Create (draft)"},
    "console.new.created": {"zh": "已创建草稿", "en": "Draft created"},
    "console.field.name": {"zh": "活动名称", "en": "Name"},
    "console.field.kind": {"zh": "券类型", "en": "Kind"},
    "console.field.amount_off": {"zh": "减免金额（元）", "en": "Amount off (yuan)"},
    "console.field.min_spend": {"zh": "使用门槛（满多少元）", "en": "Minimum spend (yuan)"},
    "console.field.percent_off": {"zh": "折扣（折，如 8.5）", "en": "Discount (折, e.g. 8.5)"},
    "console.field.max_discount": {"zh": "最高优惠（元，可空）", "en": "Cap (yuan, optional)"},
    "console.field.sku": {"zh": "商品 SKU", "en": "Product SKU"},
    "console.field.points": {"zh": "积分数", "en": "Points"},
    "console.field.scope": {"zh": "适用范围", "en": "Scope"},
    "console.field.scope_help": {
        "zh": "以逗号分隔；留空表示全部",
        "en": "Comma separated; empty means everything",
    },
    "console.field.scope_skus": {"zh": "商品 SKU", "en": "SKUs"},
    "console.field.scope_categories": {"zh": "品类", "en": "Categories"},
    "console.field.scope_stores": {"zh": "门店", "en": "Stores"},
    "console.field.channels": {"zh": "渠道", "en": "Channels"},
    "console.channel.online": {"zh": "线上", "en": "Online"},
    "console.channel.store": {"zh": "门店", "en": "In store"},
    "console.field.claim_starts_at": {"zh": "开抢时间", "en": "Claims open"},
    "console.field.claim_ends_at": {"zh": "截止时间", "en": "Claims close"},
    "console.field.validity": {"zh": "有效期", "en": "Validity"},
    "console.validity.relative": {"zh": "领取后 N 天内有效", "en": "N days from the claim"},
    "console.validity.fixed": {"zh": "固定日期", "en": "Fixed dates"},
    "console.field.validity_days": {"zh": "有效天数", "en": "Days"},
    "console.field.validity_starts_at": {"zh": "生效时间", "en": "Valid from"},
    "console.field.validity_ends_at": {"zh": "失效时间", "en": "Valid until"},
    "console.field.stock": {"zh": "库存", "en": "Stock"},
    "console.field.per_member_limit": {"zh": "每人限领", "en": "Per member"},
    "console.field.low_stock_threshold": {"zh": "库存预警线", "en": "Low-stock warning at"},
    "console.field.transferable": {"zh": "可转赠", "en": "Transferable"},
    "console.field.stackable": {"zh": "可叠加", "en": "Stackable"},
    "console.field.link_only": {"zh": "仅限链接领取", "en": "Link only"},
    "console.field.points_price": {
        "zh": "积分兑换价（留空：直接领取）",
        "en": "Points price (empty: claimed)",
    },
    "console.field.member_id": {"zh": "会员号", "en": "Member id"},
    "console.kind.threshold": {"zh": "满减券", "en": "Threshold (满减)"},
    "console.kind.percent": {"zh": "折扣券", "en": "Percent (折扣)"},
    "console.kind.amount": {"zh": "无门槛券 / 代金券", "en": "Amount (无门槛)"},
    "console.kind.exchange": {"zh": "兑换券", "en": "Exchange (兑换)"},
    "console.kind.gift": {"zh": "礼品券", "en": "Gift (礼品)"},
    "console.kind.points": {"zh": "积分券", "en": "Points (积分)"},
    "console.campaign.id": {"zh": "活动编号", "en": "Campaign id"},
    "console.campaign.lifecycle": {"zh": "状态", "en": "Lifecycle"},
    "console.move.publish": {"zh": "发布", "en": "Publish"},
    "console.move.pause": {"zh": "暂停", "en": "Pause"},
    "console.move.resume": {"zh": "恢复", "en": "Resume"},
    "console.move.close": {"zh": "结束活动", "en": "Close"},
    "console.move.close_confirm": {
        "zh": "结束后不能再发券，也不能重新开启。确定结束？",
        "en": "A closed campaign cannot be opened again. Close it?",
    },
    "console.move.done": {"zh": "已更新：{status}", "en": "Now {status}"},
    "console.edit.title": {"zh": "修改活动", "en": "Edit"},
    "console.edit.help": {
        "zh": "有效期的修改只对之后领取的券生效。",
        "en": "A new validity applies to coupons claimed afterwards.",
    },
    "console.edit.submit": {"zh": "保存修改", "en": "Save changes"},
    "console.edit.saved": {"zh": "修改已保存", "en": "Changes saved"},
    "console.confirm.yes": {"zh": "确定", "en": "Confirm"},
    "console.confirm.no": {"zh": "取消", "en": "Cancel"},
    "console.stock.title": {"zh": "调整库存", "en": "Stock"},
    "console.stock.delta": {"zh": "增减数量", "en": "Change by"},
    "console.stock.change": {"zh": "调整", "en": "Change"},
    "console.stock.confirm_up": {
        "zh": "增加 {n} 张库存（总库存 {total}）？",
        "en": "Add {n} to the stock (total {total})?",
    },
    "console.stock.confirm_down": {
        "zh": "减少 {n} 张库存（总库存 {total}）？",
        "en": "Take {n} off the stock (total {total})?",
    },
    "console.stock.bad": {
        "zh": "请输入非零整数，如 500 或 -200",
        "en": "Enter a whole number, not 0",
    },
    "console.stock.done": {
        "zh": "总库存 {total}，剩余 {remaining}",
        "en": "Stock {total}, remaining {remaining}",
    },
    "console.share.title": {"zh": "推广", "en": "Share"},
    "console.share.link": {"zh": "领取链接与二维码", "en": "Link and QR code"},
    "console.share.qr": {"zh": "领券二维码", "en": "Claim QR code"},
    "console.live.open": {"zh": "实时大屏", "en": "Live view"},
    "console.live.help": {"zh": "每秒刷新，数据来自 Redis", "en": "Every second, from Redis"},
    "console.live.rate": {"zh": "每秒领取", "en": "Claims per second"},
    "console.live.chart": {"zh": "最近一分钟每秒领取", "en": "Claims per second, last minute"},
    "console.live.refusals": {"zh": "拒绝原因", "en": "Refusals by reason"},
    "console.live.no_refusals": {"zh": "暂无拒绝", "en": "No refusals yet"},
    "console.reason.sold_out": {"zh": "已抢光", "en": "Sold out"},
    "console.reason.limit_reached": {"zh": "已达领取上限", "en": "Limit reached"},
    "console.reason.not_live": {"zh": "活动未进行", "en": "Not live"},
    "console.reason.not_started": {"zh": "未开始", "en": "Not started"},
    "console.reason.ended": {"zh": "已结束", "en": "Ended"},
    "console.reason.idempotency_mismatch": {
        "zh": "重复请求内容不一致",
        "en": "Idempotency key reused",
    },
    "console.reason.stale_hot_state": {"zh": "Redis 重建中", "en": "Redis rebuilding"},
    "console.poster.open": {"zh": "打印海报", "en": "Poster"},
    "console.poster.print": {"zh": "打印（A4）", "en": "Print (A4)"},
    "console.poster.brand": {"zh": "会员专享", "en": "For members"},
    "console.poster.scan": {"zh": "扫码领券", "en": "Scan to claim"},
    "console.members.title": {"zh": "会员", "en": "Members"},
    "console.members.find": {"zh": "查询", "en": "Look up"},
    "console.members.profile": {"zh": "资料", "en": "Profile"},
    "console.members.wallet": {"zh": "券包", "en": "Wallet"},
    "console.members.path": {"zh": "转赠路径", "en": "Transfer path"},
    "console.members.show_path": {"zh": "路径", "en": "Path"},
    "console.members.none": {"zh": "没有券", "en": "No coupons"},
    "console.member.tier": {"zh": "等级", "en": "Tier"},
    "console.member.birthday": {"zh": "生日", "en": "Birthday"},
    "console.member.registered_at": {"zh": "注册时间", "en": "Registered"},
    "console.member.tier_since": {"zh": "等级生效", "en": "Tier since"},
    "console.member.referred_by": {"zh": "推荐人", "en": "Referred by"},
    "console.member.spend_12m": {"zh": "近12个月消费", "en": "Spend, last 12 months"},
    "console.member.orders_12m": {"zh": "近12个月订单", "en": "Orders, last 12 months"},
    "console.member.next_tier": {"zh": "升级进度", "en": "Next tier"},
    "console.member.next_text": {
        "zh": "再消费 ¥{amount} 升级{tier}",
        "en": "¥{amount} more for {tier}",
    },
    "console.member.next_reached": {
        "zh": "已达{tier}标准，下一笔订单后升级",
        "en": "Qualifies for {tier}: the next order moves the member up",
    },
    "console.member.top": {"zh": "已是最高等级", "en": "Top tier"},
    "console.member.no_next": {"zh": "未设置升级门槛", "en": "No threshold set"},
    "console.member.keep_tier": {"zh": "保级", "en": "Keeping the tier"},
    "console.member.keep_text": {
        "zh": "{date} 前再消费 ¥{amount}",
        "en": "¥{amount} more before {date}",
    },
    "console.member.kept": {
        "zh": "已达保级标准（{date} 复核）",
        "en": "Kept at the review on {date}",
    },
    "console.member.no_keep": {"zh": "无需保级", "en": "Nothing to keep"},
    "console.members.points": {"zh": "积分", "en": "Points"},
    "console.points.balance": {"zh": "可用积分", "en": "Balance"},
    "console.points.pending": {"zh": "待生效", "en": "Pending"},
    "console.points.next_expiry": {"zh": "最近过期", "en": "Next expiry"},
    "console.points.expiry_text": {"zh": "{n} 积分于 {date} 过期", "en": "{n} on {date}"},
    "console.points.history": {"zh": "积分明细", "en": "Points history"},
    "console.points.at": {"zh": "时间", "en": "Time"},
    "console.points.kind": {"zh": "类型", "en": "Kind"},
    "console.points.points": {"zh": "积分", "en": "Points"},
    "console.points.balance_after": {"zh": "变动后余额", "en": "Balance after"},
    "console.points.related": {"zh": "关联", "en": "Related"},
    "console.points.reason": {"zh": "原因", "en": "Reason"},
    "console.points.none": {"zh": "暂无积分记录", "en": "No entries yet"},
    "console.points.more": {"zh": "更多", "en": "More"},
    "console.points.order": {"zh": "订单 {id}", "en": "Order {id}"},
    "console.points.campaign": {"zh": "活动 {id}", "en": "Campaign {id}"},
    "console.points.member": {"zh": "会员 {id}", "en": "Member {id}"},
    "console.points.adjust": {"zh": "调整积分", "en": "Adjust points"},
    "console.points.adjust_help": {
        "zh": "正数为补发，负数为扣减（不能超过可用积分）。",
        "en": "Positive adds a lot; negative takes points away (never beyond the balance).",
    },
    "console.points.adjust_points": {"zh": "积分", "en": "Points"},
    "console.points.adjust_reason": {"zh": "原因", "en": "Reason"},
    "console.points.adjust_submit": {"zh": "提交调整", "en": "Adjust"},
    "console.points.adjusted": {
        "zh": "已调整 {points} 积分，余额 {balance}",
        "en": "Adjusted by {points}; balance {balance}",
    },
    "console.coupon.code": {"zh": "券码", "en": "Code"},
    "console.coupon.campaign": {"zh": "活动", "en": "Campaign"},
    "console.coupon.member": {"zh": "会员", "en": "Member"},
    "console.coupon.kind": {"zh": "类型", "en": "Kind"},
    "console.coupon.state": {"zh": "状态", "en": "State"},
    "console.coupon.valid_from": {"zh": "生效", "en": "Valid from"},
    "console.coupon.valid_until": {"zh": "有效至", "en": "Valid until"},
    "console.coupon.channel": {"zh": "渠道", "en": "Channel"},
    "console.coupon.transferred_from": {"zh": "转赠自", "en": "Received from"},
    "console.state.active": {"zh": "可用", "en": "Active"},
    "console.state.reserved": {"zh": "占用中", "en": "Reserved"},
    "console.state.redeemed": {"zh": "已核销", "en": "Redeemed"},
    "console.state.expired": {"zh": "已过期", "en": "Expired"},
    "console.state.transferred": {"zh": "已转赠", "en": "Transferred"},
    "console.state.revoked": {"zh": "已作废", "en": "Revoked"},
    "console.tiers.title": {"zh": "会员等级", "en": "Tiers"},
    "console.tiers.help": {
        "zh": "折扣以“折”填写（如 9.5）；生日折扣与等级折扣取其优，不叠加。",
        "en": "Rates as 折 (9.5 = 5% off); the better of the tier and birthday rate applies.",
    },
    "console.tiers.percent_off": {"zh": "等级折扣（折）", "en": "Tier rate (折)"},
    "console.tiers.birthday_percent_off": {"zh": "生日折扣（折）", "en": "Birthday rate (折)"},
    "console.tiers.points_per_yuan": {"zh": "每元积分", "en": "Points per yuan"},
    "console.tiers.coupons_on_member_price": {
        "zh": "折上折（券用于会员价之后）",
        "en": "Coupons on the member price (折上折)",
    },
    "console.tiers.save": {"zh": "保存", "en": "Save"},
    "console.tiers.saved": {"zh": "已保存", "en": "Saved"},
    "console.tiers.unset": {"zh": "尚未设置", "en": "Not set yet"},
    "console.tiers.updated": {"zh": "更新于 {at}", "en": "Updated {at}"},
    "console.store.title": {"zh": "门店", "en": "In store"},
    "console.store.grant": {"zh": "发券给会员", "en": "Grant to a member"},
    "console.store.members": {
        "zh": "会员号（多个以逗号分隔）",
        "en": "Member ids (comma separated)",
    },
    "console.store.grant_submit": {"zh": "发券", "en": "Grant"},
    "console.store.granted": {"zh": "已发给 {member}：{code}", "en": "Granted to {member}: {code}"},
    "console.store.rejected": {
        "zh": "未发给 {member}：{reason}",
        "en": "Not granted to {member}: {reason}",
    },
    "console.store.lookup": {"zh": "查券", "en": "Look up a coupon"},
    "console.store.lookup_submit": {"zh": "查询", "en": "Look up"},
    "console.store.reason": {"zh": "原因", "en": "Reason"},
    "console.store.revoke": {"zh": "作废", "en": "Revoke"},
    "console.store.reissue": {"zh": "补发新券", "en": "Reissue"},
    "console.store.revoked": {"zh": "已作废", "en": "Revoked"},
    "console.store.reissued": {"zh": "已补发新券：{code}", "en": "Reissued as {code}"},
    "console.store.need_reason": {"zh": "请填写原因", "en": "Give a reason"},
    "console.error.network": {"zh": "网络错误，请重试", "en": "Network error; try again"},
    "console.programme.title": {"zh": "积分与等级规则", "en": "The membership programme"},
    "console.programme.help": {
        "zh": "积分、等级门槛与奖励。保存即替换整套规则，之后的订单按新规则计算。",
        "en": "Points, tier thresholds and rewards. Saving replaces the whole programme; "
        "orders from then on follow it.",
    },
    "console.programme.version": {"zh": "当前规则", "en": "Current rules"},
    "console.programme.points": {"zh": "积分规则", "en": "Points"},
    "console.programme.expiry": {"zh": "积分有效期", "en": "Points expire"},
    "console.programme.expiry.end_of_next_year": {
        "zh": "次年12月31日过期",
        "en": "At the end of the next year",
    },
    "console.programme.expiry.days": {"zh": "生效后 N 天过期", "en": "N days after they count"},
    "console.programme.expiry.never": {"zh": "永不过期", "en": "Never"},
    "console.programme.expiry_days": {"zh": "有效天数", "en": "Days"},
    "console.programme.pending_days": {
        "zh": "待生效天数（退货期）",
        "en": "Pending days (the return window)",
    },
    "console.programme.transferable": {"zh": "允许积分赠送", "en": "Members may give points"},
    "console.programme.multipliers": {"zh": "积分倍数", "en": "Multipliers"},
    "console.programme.multipliers_help": {
        "zh": "每件商品取符合条件的最大倍数，不相乘；条件留空表示不限。",
        "en": "Each line earns with the largest matching multiplier, never their product; "
        "an empty condition means any.",
    },
    "console.programme.multiplier.name": {"zh": "名称", "en": "Name"},
    "console.programme.multiplier.multiplier": {"zh": "倍数（1-10）", "en": "Multiplier (1-10)"},
    "console.programme.multiplier.birthday_month": {"zh": "生日当月", "en": "Birthday month"},
    "console.programme.multiplier.day_of_month": {
        "zh": "会员日（每月几号）",
        "en": "Member day (day of the month)",
    },
    "console.programme.multiplier.starts_at": {"zh": "开始时间", "en": "From"},
    "console.programme.multiplier.ends_at": {"zh": "结束时间", "en": "Until"},
    "console.programme.multiplier.add": {"zh": "添加倍数规则", "en": "Add a multiplier"},
    "console.programme.multiplier.remove": {"zh": "删除此规则", "en": "Remove"},
    "console.programme.multiplier.none": {"zh": "暂无倍数规则", "en": "No multipliers"},
    "console.programme.tiers": {"zh": "等级门槛", "en": "Tier thresholds"},
    "console.programme.tiers_help": {
        "zh": "单位为元；留空表示不能以此方式达到该等级。普通会员无门槛。",
        "en": "In yuan; empty: that way does not reach the tier. Standard has no threshold.",
    },
    "console.programme.single_order": {"zh": "单笔订单满（元）", "en": "One order of (yuan)"},
    "console.programme.yearly_spend": {
        "zh": "12个月累计消费满（元）",
        "en": "Spend over 12 months (yuan)",
    },
    "console.programme.downgrade": {"zh": "保级未达标时", "en": "At a review below the threshold"},
    "console.programme.downgrade.one_step": {"zh": "降一级", "en": "Move down one step"},
    "console.programme.downgrade.recalculate": {
        "zh": "按消费重新定级",
        "en": "Recalculate from the spend",
    },
    "console.programme.rewards": {"zh": "奖励（JSON）", "en": "Rewards (JSON)"},
    "console.programme.rewards_help": {
        "zh": "开卡礼、首单礼、推荐有礼、转赠有礼、满赠、生日礼、回归礼；金额单位为分。",
        "en": "Welcome, first order, referral, transfer, spend steps, birthday, win-back; "
        "money in cents.",
    },
    "console.programme.rewards_bad": {
        "zh": "rewards: 不是有效的 JSON（{error}）",
        "en": "rewards: not valid JSON ({error})",
    },
    "console.programme.save": {"zh": "保存规则", "en": "Save the programme"},
    "console.programme.saved": {"zh": "规则已保存", "en": "Programme saved"},
    "console.review.title": {"zh": "保级复核", "en": "Tier review"},
    "console.review.help": {
        "zh": "复核已到周年日的会员（系统每分钟自动执行一次）。",
        "en": "Reviews the members whose tier anniversary has come (the scheduler runs it "
        "every minute).",
    },
    "console.review.run": {"zh": "立即执行保级复核", "en": "Run the tier review now"},
    "console.review.done": {
        "zh": "已复核 {reviewed} 人：保级 {kept} 人，降级 {downgraded} 人",
        "en": "Reviewed {reviewed}: {kept} kept, {downgraded} moved down",
    },
}


def language(accept_language: str | None) -> Language:
    """Chinese unless the `Accept-Language` header prefers English to Chinese.

    The header's languages are weighed by their `q` values (1 when absent); the first language
    the pages speak wins, ties going to the one listed first.
    """
    best: tuple[float, int, Language] | None = None
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in ("zh", "en"):
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q <= 0:
            continue
        lang: Language = "en" if primary == "en" else "zh"
        if best is None or (q, -position) > (best[0], best[1]):
            best = (q, -position, lang)
    return best[2] if best is not None else "zh"


def text(message_id: str, lang: Language, **fields: Any) -> str:
    """The message in `lang` (Chinese when it has no English), its fields filled in.
    An unknown id shows itself, so a missing message is visible on the page, not a crash."""
    entry = MESSAGES.get(message_id)
    if entry is None:
        return message_id
    template = entry.get(lang) or entry["zh"]
    return template.format(**fields) if fields else template


def messages(prefixes: tuple[str, ...], lang: Language) -> dict[str, str]:
    """The messages whose ids start with one of `prefixes`, in `lang`: for a page's script,
    handed over in a `data-` attribute (the CSP allows no inline script)."""
    return {
        key: entry.get(lang) or entry["zh"]
        for key, entry in MESSAGES.items()
        if key.startswith(prefixes)
    }


@pass_context
def _t(context: Context, message_id: str, **fields: Any) -> str:
    lang = context.get("lang")
    if lang not in ("zh", "en"):
        request = context.get("request")
        lang = language(request.headers.get("accept-language") if request is not None else None)
    return text(message_id, lang, **fields)


def register(engine: Any) -> None:
    """The template engine's callback (`TemplateConfig.engine_callback`): `t` as a global and
    a filter (`{{ t("claim.button") }}`, `{{ "claim.button" | t }}`)."""
    engine.engine.globals["t"] = _t
    engine.engine.filters["t"] = _t
