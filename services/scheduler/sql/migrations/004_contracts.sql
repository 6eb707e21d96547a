-- The contracts projection, learned from events.normalized. The newest event (event_time, then
-- event_id) wins. next_days is the next mark not yet fired (a threshold in days before the end
-- date, or -1 for the expiry, the day after it); null when none is left or the contract is not
-- active. next_due_date is the local day that mark is reached; the partial index on it is what
-- makes "which contracts reach a mark today" one index range scan.
CREATE TABLE IF NOT EXISTS contracts (
    tenant_id            text NOT NULL,
    contract_id          text NOT NULL,
    status               text NOT NULL CHECK (status IN ('active', 'cancelled', 'expired')),
    end_date             date,
    customer_name        text,
    account_owner_email  text,
    value                numeric,
    fields               jsonb NOT NULL DEFAULT '{}',
    event_time           timestamptz NOT NULL,
    event_id             text NOT NULL,
    next_days            integer,
    next_due_date        date GENERATED ALWAYS AS (end_date - next_days) STORED,
    updated_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, contract_id),
    CHECK (next_days IS NULL OR (status = 'active' AND end_date IS NOT NULL))
);

CREATE INDEX IF NOT EXISTS contracts_next_due_date
    ON contracts (next_due_date) WHERE next_due_date IS NOT NULL;

-- Contract events that could not be used (no contract id, an end date that cannot be read),
-- with the reason; one row per event, so redeliveries add nothing.
CREATE TABLE IF NOT EXISTS contract_rejections (
    tenant_id    text NOT NULL,
    event_id     text NOT NULL,
    event_type   text NOT NULL,
    contract_id  text,
    reason       text NOT NULL,
    value        text,
    rejected_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, event_id)
);
