-- Reports read events and point entries by time (the clerks report: grants in a window; the
-- points report: earned / spent / expired / transferred in the last 30 days). Both tables are
-- append-only in time order, so a BRIN index serves those ranges at almost no cost to the
-- writes (the claim ledger and the commit path insert into them).
CREATE INDEX events_at_brin ON events USING brin (at);
CREATE INDEX point_entries_at_brin ON point_entries USING brin (at);
