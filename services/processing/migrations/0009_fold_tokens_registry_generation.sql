-- Issue #16: a batch folds only its new events onto the fold kept in memory
-- (services/processing/adapters/folds.py); the token says which stored assessment that fold
-- belongs to. NULL (rows written before this migration): folded again from the events.
ALTER TABLE processing.dossiers ADD COLUMN fold_token bigint;

-- Grows with every registry change applied to the local copy, in the same transaction: the
-- registry copy kept as domain objects in memory is read again when it moved.
CREATE TABLE processing.registry_generation (
    one        boolean PRIMARY KEY DEFAULT true CHECK (one),
    generation bigint NOT NULL
);
INSERT INTO processing.registry_generation (one, generation) VALUES (true, 0);
