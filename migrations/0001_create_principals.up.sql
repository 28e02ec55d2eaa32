CREATE TABLE IF NOT EXISTS principals (
    id         UUID        NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    name       TEXT        NOT NULL,
    role       TEXT        NOT NULL CHECK (role IN ('provider', 'contributor', 'auditor', 'admin')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
