CREATE SCHEMA IF NOT EXISTS registry;

-- Thủ tục hành chính: the national catalog, with the statutory processing time.
CREATE TABLE registry.procedures (
    code        text PRIMARY KEY,
    name        text NOT NULL,
    field       text,
    level       text,
    time_value  numeric(8, 2) NOT NULL CHECK (time_value >= 0),
    time_unit   text NOT NULL CHECK (time_unit IN ('working_days', 'calendar_days', 'working_hours', 'months')),
    legal_basis text,
    valid_from  date,
    valid_to    date,
    version     integer NOT NULL DEFAULT 1,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Transactional outbox: a change and its feed message commit together; a relay publishes
-- them on tthc.registry.v1 in id order and marks them published (at-least-once).
CREATE TABLE registry.outbox (
    id           bigserial PRIMARY KEY,
    entity       text NOT NULL,
    entity_id    text NOT NULL,
    version      integer NOT NULL,
    message      jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_unpublished ON registry.outbox (id) WHERE published_at IS NULL;
