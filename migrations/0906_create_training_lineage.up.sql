-- Training lineage: which feedback epochs a provider's model version was trained on, with
-- relative weights (decimal, compared and summed in Go only). Append-only: an epoch of a version
-- is declared once; declaring it again with another weight is refused.
CREATE TABLE IF NOT EXISTS training_lineage (
    provider_id   UUID           NOT NULL,
    model_version TEXT           NOT NULL,
    epoch         TEXT           NOT NULL,
    weight        NUMERIC(38,12) NOT NULL,
    declared_at   TIMESTAMPTZ    NOT NULL,
    PRIMARY KEY (provider_id, model_version, epoch)
);
