-- The at-risk warning (dự báo trễ hạn, issue #17) depends on the model learned at a given moment,
-- not only on the event log: it lives beside the stored assessment, not in it, so the assessment
-- stays a pure function of the events (a replay or a run killed mid-stream stores the same JSON).
-- The compliance message carries both columns in its head, like the revision.
ALTER TABLE processing.dossiers
    ADD COLUMN at_risk_since timestamptz,
    ADD COLUMN forecast_resolved_at timestamptz;
UPDATE processing.dossiers SET
    at_risk_since = (assessment ->> 'at_risk_since')::timestamptz,
    forecast_resolved_at = (assessment ->> 'forecast_resolved_at')::timestamptz,
    assessment = assessment - 'at_risk_since' - 'forecast_resolved_at'
WHERE assessment ?| ARRAY['at_risk_since', 'forecast_resolved_at'];
DROP INDEX processing.dossiers_open_at_risk;
-- counted for /metrics: the open dossiers warned and still within their time limit
CREATE INDEX dossiers_open_at_risk ON processing.dossiers (agency_code)
    WHERE outcome = 'pending_within' AND at_risk_since IS NOT NULL;
