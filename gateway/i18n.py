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
    "console.nav.segments": {"zh": "人群", "en": "Segments"},
    "console.nav.jobs": {"zh": "发券任务", "en": "Grant jobs"},
    "console.nav.reports": {"zh": "报表", "en": "Reports"},
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
    "console.reason.campaign_not_found": {"zh": "活动不存在", "en": "No such campaign"},
    "console.reason.exchange_only": {"zh": "仅限积分兑换", "en": "Exchange only"},
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
    "console.programme.rewards": {"zh": "自动奖励", "en": "Rewards"},
    "console.programme.rewards_help": {
        "zh": "会员达成条件时自动发放，每位会员每个场合只发一次。券从进行中的活动里选（库存与"
        "每人限领照常生效）；不选则不送券，积分留空为不送。",
        "en": "Given by themselves when a member qualifies, once per member and occasion. "
        "Coupons come from a live campaign (its stock and per-member limit apply); no "
        "campaign: no coupon; empty points: none.",
    },
    "console.rewards.campaign": {"zh": "赠券", "en": "Coupon of"},
    "console.rewards.no_coupon": {"zh": "不送券", "en": "No coupon"},
    "console.rewards.pick": {"zh": "请选择活动", "en": "Pick a campaign"},
    "console.rewards.not_live": {"zh": "{id}（非进行中）", "en": "{id} (not live)"},
    "console.rewards.points": {"zh": "赠送积分", "en": "Points"},
    "console.rewards.kind.welcome": {"zh": "开卡礼", "en": "Welcome"},
    "console.rewards.kind.first_order": {"zh": "首单礼", "en": "First order"},
    "console.rewards.kind.referral": {"zh": "推荐有礼", "en": "Referral"},
    "console.rewards.kind.transfer": {"zh": "转赠有礼", "en": "Transfer"},
    "console.rewards.kind.spend_steps": {"zh": "满赠", "en": "Spend steps"},
    "console.rewards.kind.birthday": {"zh": "生日礼", "en": "Birthday"},
    "console.rewards.kind.win_back": {"zh": "回归礼", "en": "Win-back"},
    "console.rewards.when.welcome": {"zh": "注册成为会员时", "en": "When a member registers"},
    "console.rewards.when.first_order": {
        "zh": "会员第一笔订单完成时",
        "en": "At the member's first committed order",
    },
    "console.rewards.when.referral": {
        "zh": "被推荐的好友首单完成时，推荐人与好友各得一份",
        "en": "At an invited friend's first order: the inviter and the friend each get theirs",
    },
    "console.rewards.when.transfer": {
        "zh": "转赠的券被好友使用时",
        "en": "When a coupon given to a friend is used",
    },
    "console.rewards.when.spend_steps": {
        "zh": "单笔订单满额（只发达到的最高一档），或自然月累计消费满额（每月每档一次）。"
        "金额单位为元。",
        "en": "One order's paid total (only the highest step reached), or a calendar month's "
        "paid spend (once per month and step). In yuan.",
    },
    "console.rewards.when.birthday": {
        "zh": "生日前若干天，每年一次",
        "en": "Some days before the birthday, once a year",
    },
    "console.rewards.when.win_back": {
        "zh": "老会员连续若干天未消费时，每次流失一次",
        "en": "When a member who ordered before has not ordered for some days, once per lapse",
    },
    "console.rewards.referral.inviter": {"zh": "推荐人", "en": "The inviter"},
    "console.rewards.referral.invitee": {"zh": "被推荐的好友", "en": "The invited friend"},
    "console.rewards.giver_points": {
        "zh": "赠券人获得积分",
        "en": "Points to the giver",
    },
    "console.rewards.transfer_campaign": {
        "zh": "好友首单时双方各得一张",
        "en": "On the friend's first order, one each of",
    },
    "console.rewards.days_before": {"zh": "提前天数（0-30）", "en": "Days before (0-30)"},
    "console.rewards.after_days": {"zh": "未消费天数", "en": "Days without an order"},
    "console.rewards.step.none": {"zh": "暂无满赠", "en": "No spend steps"},
    "console.rewards.step.add": {"zh": "添加满赠档位", "en": "Add a spend step"},
    "console.rewards.step.remove": {"zh": "删除", "en": "Remove"},
    "console.rewards.step.period": {"zh": "方式", "en": "Counted over"},
    "console.rewards.step.period.order": {"zh": "单笔订单满", "en": "One order"},
    "console.rewards.step.period.month": {"zh": "当月累计满", "en": "A calendar month"},
    "console.rewards.step.min_paid": {"zh": "金额（元）", "en": "Paid at least (yuan)"},
    "console.members.rewards": {"zh": "奖励记录", "en": "Rewards"},
    "console.rewards.kind": {"zh": "奖励", "en": "Reward"},
    "console.rewards.occasion": {"zh": "场合", "en": "Occasion"},
    "console.rewards.coupon": {"zh": "券", "en": "Coupon"},
    "console.rewards.refused": {"zh": "未发券：{reason}", "en": "No coupon: {reason}"},
    "console.rewards.none": {"zh": "暂无奖励", "en": "No rewards yet"},
    "console.occasion.welcome": {"zh": "注册开卡", "en": "Registered"},
    "console.occasion.first_order": {"zh": "首单 {order}", "en": "First order {order}"},
    "console.occasion.referral_inviter": {
        "zh": "推荐的好友 {member} 完成首单",
        "en": "Invited friend {member} ordered",
    },
    "console.occasion.referral_invitee": {
        "zh": "受 {member} 推荐，完成首单",
        "en": "First order, invited by {member}",
    },
    "console.occasion.transfer_giver": {
        "zh": "赠出的券 {code} 被 {member} 使用",
        "en": "Coupon {code} given to {member} was used",
    },
    "console.occasion.transfer_first_order": {
        "zh": "转赠券带来首单（{member}）",
        "en": "A transferred coupon's first order ({member})",
    },
    "console.occasion.spend_order": {"zh": "订单 {order} 满赠", "en": "Order {order}"},
    "console.occasion.spend_month": {
        "zh": "{month} 累计满 ¥{amount}",
        "en": "{month}: ¥{amount} spent",
    },
    "console.occasion.birthday": {"zh": "{year} 年生日", "en": "Birthday {year}"},
    "console.occasion.win_back": {
        "zh": "自 {day} 起未消费",
        "en": "No order since {day}",
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
    # segments: the RFM table (四度分析), the builder, saved segments, grant jobs
    "console.segments.title": {"zh": "人群", "en": "Segments"},
    "console.rfm.title": {"zh": "四度分析（RFM）", "en": "RFM table"},
    "console.rfm.as_of": {"zh": "截至", "en": "As of"},
    "console.rfm.show": {"zh": "查看", "en": "Show"},
    "console.rfm.window": {
        "zh": "统计 {first} 至 {last} 的订单（截至 {as_of}）",
        "en": "Orders from {first} to {last} (as of {as_of})",
    },
    "console.rfm.members": {"zh": "会员", "en": "Members"},
    "console.rfm.buyers": {"zh": "有消费的会员", "en": "Members who bought"},
    "console.rfm.groups": {"zh": "人群分组", "en": "Groups"},
    "console.rfm.group": {"zh": "人群", "en": "Group"},
    "console.rfm.rule": {"zh": "规则", "en": "Rule"},
    "console.rfm.count": {"zh": "人数", "en": "Members"},
    "console.rfm.share": {"zh": "占比", "en": "Share"},
    "console.rfm.pick": {"zh": "圈选", "en": "Use"},
    "console.rfm.group.champions": {"zh": "重要价值", "en": "Champions"},
    "console.rfm.group.loyal": {"zh": "忠诚会员", "en": "Loyal"},
    "console.rfm.group.big_spenders": {"zh": "高消费待唤醒", "en": "Big spenders"},
    "console.rfm.group.at_risk": {"zh": "流失预警", "en": "At risk"},
    "console.rfm.group.lapsed": {"zh": "已流失", "en": "Lapsed"},
    "console.rfm.group.new": {"zh": "新会员", "en": "New"},
    "console.rfm.group.others": {"zh": "其他", "en": "Others"},
    "console.rfm.rule.champions": {
        "zh": "90 天内消费过，订单 > {f2} 笔且消费 > {m2}",
        "en": "Ordered within 90 days, more than {f2} orders and {m2}",
    },
    "console.rfm.rule.loyal": {
        "zh": "90 天内消费过，订单 > {f1} 笔",
        "en": "Ordered within 90 days, more than {f1} orders",
    },
    "console.rfm.rule.big_spenders": {
        "zh": "消费 > {m2}，90 天内未消费",
        "en": "Spent more than {m2}, no order within 90 days",
    },
    "console.rfm.rule.at_risk": {
        "zh": "订单 > {f1} 笔，最近一次消费在 91-180 天前",
        "en": "More than {f1} orders, the last 91-180 days ago",
    },
    "console.rfm.rule.lapsed": {
        "zh": "最近一次消费在 181-360 天前",
        "en": "The last order 181-360 days ago",
    },
    "console.rfm.rule.new": {
        "zh": "注册 30 天内，订单不超过 1 笔",
        "en": "Registered within 30 days, at most 1 order",
    },
    "console.rfm.rule.others": {"zh": "以上都不是", "en": "None of the above"},
    "console.rfm.recency": {"zh": "最近消费（R）", "en": "Recency (R)"},
    "console.rfm.band": {"zh": "区间", "en": "Band"},
    "console.rfm.days": {"zh": "距今天数", "en": "Days ago"},
    "console.rfm.band.active": {"zh": "活跃", "en": "Active"},
    "console.rfm.band.dormant": {"zh": "休眠", "en": "Dormant"},
    "console.rfm.band.lapsed": {"zh": "流失", "en": "Lapsed"},
    "console.rfm.band.none": {"zh": "无消费", "en": "No order"},
    "console.rfm.scores": {"zh": "频次、金额、品类宽度（F / M / W）", "en": "F, M and W scores"},
    "console.rfm.measure": {"zh": "指标", "en": "Measure"},
    "console.rfm.thresholds": {"zh": "三分位门槛", "en": "Terciles"},
    "console.rfm.score": {"zh": "{n} 分", "en": "Score {n}"},
    "console.rfm.measure.frequency": {"zh": "订单数（F）", "en": "Orders (F)"},
    "console.rfm.measure.monetary": {"zh": "消费金额（M）", "en": "Spend (M)"},
    "console.rfm.measure.width": {"zh": "品类数（W）", "en": "Categories (W)"},
    "console.rfm.threshold_text": {
        "zh": "≤ {a} 为 1 分，≤ {b} 为 2 分，更高为 3 分",
        "en": "1 up to {a}, 2 up to {b}, 3 above",
    },
    "console.rfm.no_buyers": {"zh": "暂无消费", "en": "Nobody bought"},
    "console.segment.builder": {"zh": "圈选人群", "en": "Build a segment"},
    "console.segment.builder_help": {
        "zh": "所有填写的条件同时满足；按近 365 天的订单计算。人数随编辑即时更新。",
        "en": "Every condition given must hold, over the last 365 days' orders. The size "
        "updates as you edit.",
    },
    "console.segment.name": {"zh": "人群名称", "en": "Name"},
    "console.segment.recency_days": {"zh": "距上次消费（天）", "en": "Days since the last order"},
    "console.segment.orders": {"zh": "订单数", "en": "Orders"},
    "console.segment.spend": {"zh": "消费金额（元）", "en": "Spend (yuan)"},
    "console.segment.min": {"zh": "最少", "en": "At least"},
    "console.segment.max": {"zh": "最多", "en": "At most"},
    "console.segment.categories": {"zh": "购买品类数至少", "en": "Categories bought, at least"},
    "console.segment.registered_days": {"zh": "注册天数至多", "en": "Registered days, at most"},
    "console.segment.birthday_month": {"zh": "生日月份", "en": "Birthday month"},
    "console.segment.month": {"zh": "{n} 月", "en": "Month {n}"},
    "console.segment.birthday_in": {"zh": "{n} 月生日", "en": "Birthday in month {n}"},
    "console.segment.any": {"zh": "不限", "en": "Any"},
    "console.segment.group": {"zh": "RFM 人群", "en": "RFM group"},
    "console.segment.tiers": {"zh": "会员等级", "en": "Tiers"},
    "console.segment.size": {"zh": "符合条件的会员：", "en": "Members matching:"},
    "console.segment.counting": {"zh": "计算中…", "en": "Counting…"},
    "console.segment.save": {"zh": "保存人群", "en": "Save the segment"},
    "console.segment.clear": {"zh": "清空条件", "en": "Clear"},
    "console.segment.saved": {"zh": "已保存的人群", "en": "Saved segments"},
    "console.segment.saved_one": {
        "zh": "已保存人群“{name}”（{size} 人）",
        "en": "Saved “{name}” ({size} members)",
    },
    "console.segment.filter": {"zh": "条件", "en": "Filter"},
    "console.segment.everyone": {"zh": "全部会员", "en": "Every member"},
    "console.segment.members": {"zh": "当前人数", "en": "Members now"},
    "console.segment.created": {"zh": "创建时间", "en": "Created"},
    "console.segment.none": {"zh": "还没有保存的人群", "en": "No saved segments yet"},
    "console.segment.show_members": {"zh": "名单", "en": "Members"},
    "console.segment.grant": {"zh": "发券", "en": "Grant"},
    "console.segment.members_of": {"zh": "“{name}”的会员", "en": "Members of “{name}”"},
    "console.segment.no_members": {"zh": "暂无会员", "en": "Nobody"},
    "console.grant_job.title": {"zh": "向人群发券", "en": "Grant a campaign to a segment"},
    "console.grant_job.help": {
        "zh": "按人群当前的会员逐批发券（库存与每人限领照常生效，同一会员不会重复发放），"
        "进度在发券任务中查看。",
        "en": "Grants to the segment's members now, in batches (stock and per-member limits "
        "apply; nobody is granted twice); follow it under Grant jobs.",
    },
    "console.grant_job.segment": {"zh": "人群", "en": "Segment"},
    "console.grant_job.campaign": {"zh": "活动", "en": "Campaign"},
    "console.grant_job.pick_segment": {"zh": "请选择人群", "en": "Pick a segment"},
    "console.grant_job.pick_campaign": {"zh": "请选择活动", "en": "Pick a campaign"},
    "console.grant_job.submit": {"zh": "开始发券", "en": "Start granting"},
    "console.grant_job.started": {"zh": "发券任务已开始", "en": "The grant job has started"},
    "console.jobs.title": {"zh": "发券任务", "en": "Grant jobs"},
    "console.jobs.help": {
        "zh": "进行中的任务每秒刷新。",
        "en": "Running jobs refresh every second.",
    },
    "console.jobs.job": {"zh": "任务", "en": "Job"},
    "console.jobs.campaign": {"zh": "活动", "en": "Campaign"},
    "console.jobs.segment": {"zh": "人群", "en": "Segment"},
    "console.jobs.state": {"zh": "状态", "en": "State"},
    "console.jobs.progress": {"zh": "进度", "en": "Progress"},
    "console.jobs.granted": {"zh": "已发", "en": "Granted"},
    "console.jobs.rejected": {"zh": "未发（原因）", "en": "Refused (why)"},
    "console.jobs.started": {"zh": "开始", "en": "Started"},
    "console.jobs.finished": {"zh": "完成", "en": "Finished"},
    "console.jobs.none": {"zh": "还没有发券任务", "en": "No grant jobs yet"},
    "console.jobs.state.running": {"zh": "进行中", "en": "Running"},
    "console.jobs.state.done": {"zh": "已完成", "en": "Done"},
    "console.jobs.state.failed": {"zh": "失败", "en": "Failed"},
    "console.jobs.done_of": {
        "zh": "{done} / {total}（{percent}%）",
        "en": "{done} of {total} ({percent}%)",
    },
    # reports
    "console.reports.title": {"zh": "报表", "en": "Reports"},
    "console.reports.from": {"zh": "从", "en": "From"},
    "console.reports.to": {"zh": "到", "en": "To"},
    "console.reports.show": {"zh": "查看", "en": "Show"},
    "console.reports.window": {"zh": "统计区间：{from} 至 {to}", "en": "From {from} to {to}"},
    "console.funnel.title": {
        "zh": "转化漏斗：领取 → 下单 → 成交",
        "en": "Conversion: claimed → reserved → committed",
    },
    "console.funnel.help": {
        "zh": "最近 20 个已发布的活动（全部时间）。转化率 = 成交订单 ÷ 用券下单的订单。",
        "en": "The latest 20 published campaigns, all time. Conversion = orders committed ÷ "
        "orders that reserved a coupon.",
    },
    "console.funnel.chart": {"zh": "漏斗", "en": "Funnel"},
    "console.funnel.claimed": {"zh": "领取", "en": "Claimed"},
    "console.funnel.reserved": {"zh": "用券下单", "en": "Reserved"},
    "console.funnel.committed": {"zh": "成交", "en": "Committed"},
    "console.funnel.rate": {"zh": "转化率", "en": "Conversion"},
    "console.funnel.transferred": {"zh": "转赠", "en": "Transferred"},
    "console.funnel.exchanged": {"zh": "积分兑换", "en": "Exchanged"},
    "console.funnel.none": {"zh": "还没有已发布的活动", "en": "No published campaigns yet"},
    "console.preport.title": {"zh": "积分", "en": "Points"},
    "console.preport.as_of": {"zh": "截至 {as_of}", "en": "As of {as_of}"},
    "console.preport.outstanding": {"zh": "未使用积分", "en": "Outstanding"},
    "console.preport.pending": {"zh": "待生效", "en": "Pending"},
    "console.preport.owed": {"zh": "欠扣积分", "en": "Owed"},
    "console.preport.expiring_30d": {"zh": "30 天内过期", "en": "Expiring in 30 days"},
    "console.preport.expiring_90d": {"zh": "90 天内过期", "en": "Expiring in 90 days"},
    "console.preport.expiry_chart": {
        "zh": "未使用积分中即将过期的部分",
        "en": "Outstanding points and the part about to expire",
    },
    "console.preport.legend_30": {"zh": "30 天内过期 {n}", "en": "Within 30 days: {n}"},
    "console.preport.legend_90": {"zh": "31-90 天内过期 {n}", "en": "In 31-90 days: {n}"},
    "console.preport.legend_rest": {"zh": "90 天后 {n}", "en": "Later: {n}"},
    "console.preport.moves": {"zh": "近 30 天积分变动", "en": "Moves in the last 30 days"},
    "console.preport.move.earned": {"zh": "获得", "en": "Earned"},
    "console.preport.move.spent": {"zh": "兑换", "en": "Spent"},
    "console.preport.move.expired": {"zh": "过期", "en": "Expired"},
    "console.preport.move.transferred": {"zh": "赠送", "en": "Transferred"},
    "console.preport.move.adjusted": {"zh": "调整", "en": "Adjusted"},
    "console.preport.move.reversed": {"zh": "退款扣回", "en": "Reversed"},
    "console.referrals.title": {"zh": "推荐有礼", "en": "Referrals"},
    "console.referrals.invitations": {"zh": "受邀注册", "en": "Invited"},
    "console.referrals.first_orders": {"zh": "好友首单", "en": "First orders"},
    "console.referrals.given": {"zh": "奖励已发", "en": "Rewards given"},
    "console.referrals.refused": {"zh": "券未发出", "en": "Coupons refused"},
    "console.referrals.points": {"zh": "奖励积分", "en": "Points given"},
    "console.referrals.coupons": {"zh": "奖励券", "en": "Coupons given"},
    "console.referrals.board": {"zh": "推荐排行榜（前 10）", "en": "Top 10 inviters"},
    "console.referrals.inviter": {"zh": "推荐人", "en": "Inviter"},
    "console.referrals.invitees_ordered": {"zh": "好友首单数", "en": "Friends who ordered"},
    "console.referrals.none": {"zh": "本期暂无推荐", "en": "No referrals in this window"},
    "console.clerks.title": {"zh": "导购发券与转化", "en": "Clerks: coupons handed out and used"},
    "console.clerks.actor": {"zh": "导购（密钥名称）", "en": "Clerk (key name)"},
    "console.clerks.granted": {"zh": "发券", "en": "Granted"},
    "console.clerks.redeemed": {"zh": "已核销", "en": "Redeemed"},
    "console.clerks.rate": {"zh": "转化率", "en": "Rate"},
    "console.clerks.total": {"zh": "合计", "en": "Total"},
    "console.clerks.none": {"zh": "本期没有导购发券", "en": "No clerk grants in this window"},
    "console.mreport.title": {"zh": "会员（按等级）", "en": "Members by tier"},
    "console.mreport.help": {
        "zh": "活跃：截止前 30 天内下过单；复购：区间内两笔订单相隔不超过 30 天。",
        "en": "Active: ordered in the 30 days before the end; repeat: two orders in the window "
        "at most 30 days apart.",
    },
    "console.mreport.overall": {"zh": "全部", "en": "All"},
    "console.mreport.new": {"zh": "新会员", "en": "New"},
    "console.mreport.active": {"zh": "活跃会员", "en": "Active"},
    "console.mreport.ordering": {"zh": "下单会员", "en": "Ordering"},
    "console.mreport.repeat": {"zh": "复购会员", "en": "Repeat"},
    "console.mreport.repeat_rate": {"zh": "复购率", "en": "Repeat rate"},
    "console.mreport.orders": {"zh": "订单", "en": "Orders"},
    "console.mreport.paid": {"zh": "消费额", "en": "Paid"},
    "console.mreport.aov": {"zh": "客单价", "en": "Average order"},
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
