"""The flash-sale day as Locust users, one module per user class.

- `flash.FlashClaimer`: members pressing "claim" on a campaign link.
- `shopper.Shopper`: wallet read → quote → reserve → commit or cancel.
- `operator.Operator`: raises stock mid-storm, polls the campaign's stats.
- `clerk.Clerk`: in-store grants at the till.
- `page.PageClaimer`: the claim page's `POST /claim/{id}`, from the member's phone.
- `friends.RewardShopper`: friends invited (`referred_by`) and given coupons by transfer, ordering
  while the programme's rewards (set by `fixture`) run.

`fixture` creates the campaigns and sets the programme's rewards through the API once (on the
master), `tally` counts what the end-of-run consistency check needs (201s per campaign, grants,
commits), `config` reads every `LOADTEST_*` variable.
"""
