-- The birthday half of the rewards scan (012) reads only the members whose birthday falls in
-- the reward's window (DESIGN.md: scheduled work touches what is due). It read every member
-- with a birthday, in every worker, every 10 minutes: about 0.26 s at 100,000 members.
--
-- Now the window's days (today .. today + days_before, at most 31 days) are matched against
-- an index of birthdays: a day's 'MM-DD', and '02-29' on 02-28 of a common year (a 02-29
-- birthday is celebrated then). The occasion is the birthday's year, as before: a day in the
-- window is the birthday of that year, so the rows made due are the same.
CREATE INDEX members_birthday ON members (birthday) WHERE birthday IS NOT NULL;

CREATE OR REPLACE FUNCTION gw_rewards_scan(now_ timestamptz, zone text) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    rewards jsonb := (SELECT body -> 'rewards' FROM programme);
    today date := (now_ AT TIME ZONE zone)::date;
    before_ integer;
    after_ integer;
    made integer := 0;
    n integer;
BEGIN
    IF rewards IS NULL THEN
        RETURN 0;
    END IF;
    IF rewards -> 'birthday' ->> 'campaign_id' IS NOT NULL THEN
        before_ := coalesce((rewards -> 'birthday' ->> 'days_before')::integer, 0);
        WITH days AS (
            SELECT d::date AS day, extract(year FROM d)::integer AS year
            FROM generate_series(today, today + before_, interval '1 day') AS d
        ), birthdays AS (
            SELECT days.day, days.year, to_char(days.day, 'MM-DD') AS md FROM days
            UNION ALL
            SELECT days.day, days.year, '02-29' FROM days
            WHERE to_char(days.day, 'MM-DD') = '02-28'
              AND NOT (days.year % 4 = 0 AND (days.year % 100 <> 0 OR days.year % 400 = 0))
        ), inserted AS (
            INSERT INTO reward_due (member_id, occasion, kind, campaign_id, points, due_at)
            SELECT m.member_id, 'birthday:' || b.year, 'birthday',
                   rewards -> 'birthday' ->> 'campaign_id', 0, now_
            FROM birthdays b JOIN members m ON m.birthday = b.md
            ON CONFLICT (member_id, occasion) DO NOTHING
            RETURNING 1
        )
        SELECT count(*) INTO n FROM inserted;
        made := made + n;
    END IF;
    IF rewards -> 'win_back' ->> 'campaign_id' IS NOT NULL THEN
        after_ := coalesce((rewards -> 'win_back' ->> 'after_days')::integer, 60);
        WITH last_orders AS (
            SELECT d.member_id, max(d.day) AS day FROM member_spend_days d
            WHERE d.orders > 0 GROUP BY d.member_id
        ), inserted AS (
            INSERT INTO reward_due (member_id, occasion, kind, campaign_id, points, due_at)
            SELECT l.member_id, 'win_back:' || l.day, 'win_back',
                   rewards -> 'win_back' ->> 'campaign_id', 0, now_
            FROM last_orders l
            WHERE l.day <= today - after_
            ON CONFLICT (member_id, occasion) DO NOTHING
            RETURNING 1
        )
        SELECT count(*) INTO n FROM inserted;
        made := made + n;
    END IF;
    RETURN made;
END $$;
