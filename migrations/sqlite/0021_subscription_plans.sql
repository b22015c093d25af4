-- The expiring-cards dashboard's Service Type filter (document 000) lists the plans patients have and
-- narrows to one: the plan names come off this index rather than the whole table.
CREATE INDEX subscriptions_plan ON subscriptions (plan, status);
