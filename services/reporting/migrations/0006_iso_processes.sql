-- Reporting's copy of the ISO processes on the registry feed, for one purpose: the control slip
-- (phiếu kiểm soát) names each step ("Thẩm định hồ sơ"), not its code ("B2"). Newest version wins;
-- a deletion is a tombstone. The assessment names the process version it was judged by.
CREATE TABLE reporting.iso_processes (
    entity_id      text PRIMARY KEY,           -- <agency>|<procedure>|<process version>
    version        integer NOT NULL,           -- feed version of the entity
    deleted        boolean NOT NULL DEFAULT false,
    agency_code    text,
    procedure_code text,
    process_version integer,
    data           jsonb
);
CREATE INDEX iso_processes_by_procedure ON reporting.iso_processes (agency_code, procedure_code, process_version);
