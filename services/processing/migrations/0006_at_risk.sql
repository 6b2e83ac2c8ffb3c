-- At-risk warning (dự báo trễ hạn, issue #17): the assessment JSON carries at_risk_since; open
-- dossiers warned are counted per agency for /metrics every few seconds, so index exactly those.
CREATE INDEX dossiers_open_at_risk ON processing.dossiers (agency_code)
    WHERE outcome IN ('pending_within', 'pending_overdue') AND (assessment ->> 'at_risk_since') IS NOT NULL;
-- The model learns from resolved dossiers: their step events, read by dossier.
CREATE INDEX dossiers_resolved ON processing.dossiers (procedure_code) WHERE resolved_at IS NOT NULL;
