-- Least-privilege roles on a PostgreSQL warehouse (run by `python -m replenishment.roles`).
--
--   replenishment_pipeline  LOGIN: reads the five source tables, owns and writes only the
--                           reporting schema {{ reporting_schema }} (creates its tables there).
--   replenishment_bi        LOGIN: reads the reporting schema (its tables and views, also the
--                           ones the pipeline creates later); nothing on the source tables.
--
-- Run it as a superuser (or the database owner with CREATEROLE and membership in both roles),
-- once per database; running it again changes nothing. Roles are cluster-wide, grants are
-- per database. No passwords here: set them with psql's \password, or with
-- `python -m replenishment.roles --pipeline-password-env VAR --bi-password-env VAR`, which
-- hashes them (SCRAM-SHA-256) on the client so the plain password never reaches the server.
--
-- {{ reporting_schema }} and {{ source_schema }} are identifiers checked by replenishment.roles
-- before they are substituted; nothing else is templated. Statements are separated by ";" at
-- the end of a line outside $$ ... $$ bodies.

-- The roles: created when missing, their attributes corrected when they drifted.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'replenishment_pipeline') THEN
        CREATE ROLE replenishment_pipeline
            LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT;
    ELSIF EXISTS (
        SELECT 1 FROM pg_roles
        WHERE rolname = 'replenishment_pipeline'
          AND (rolsuper OR rolcreatedb OR rolcreaterole OR rolreplication OR rolbypassrls
               OR NOT rolcanlogin)
    ) THEN
        ALTER ROLE replenishment_pipeline
            LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
    END IF;
EXCEPTION WHEN duplicate_object THEN
    NULL;  -- created at the same moment by another session
END
$$;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'replenishment_bi') THEN
        CREATE ROLE replenishment_bi
            LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT;
    ELSIF EXISTS (
        SELECT 1 FROM pg_roles
        WHERE rolname = 'replenishment_bi'
          AND (rolsuper OR rolcreatedb OR rolcreaterole OR rolreplication OR rolbypassrls
               OR NOT rolcanlogin)
    ) THEN
        ALTER ROLE replenishment_bi
            LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
    END IF;
EXCEPTION WHEN duplicate_object THEN
    NULL;
END
$$;

-- Both may connect to this database (whatever PUBLIC has been left with).
DO $$
BEGIN
    EXECUTE format(
        'GRANT CONNECT ON DATABASE %I TO replenishment_pipeline, replenishment_bi',
        current_database()
    );
END
$$;

-- Nobody but owners creates objects in the source schema (PostgreSQL's own default since 15).
REVOKE CREATE ON SCHEMA {{ source_schema }} FROM PUBLIC;

-- Sources: the pipeline reads them and nothing more; the BI role gets nothing on them.
GRANT USAGE ON SCHEMA {{ source_schema }} TO replenishment_pipeline;

REVOKE ALL ON TABLE
    {{ source_schema }}.sku_master,
    {{ source_schema }}.order_lines,
    {{ source_schema }}.promotions,
    {{ source_schema }}.inventory_snapshots,
    {{ source_schema }}.purchase_orders
FROM replenishment_pipeline, replenishment_bi;

GRANT SELECT ON TABLE
    {{ source_schema }}.sku_master,
    {{ source_schema }}.order_lines,
    {{ source_schema }}.promotions,
    {{ source_schema }}.inventory_snapshots,
    {{ source_schema }}.purchase_orders
TO replenishment_pipeline;

-- Reporting: owned by the pipeline role, so it can create, alter (new columns) and write its
-- tables there and nowhere else. Tables a previous setup created under another owner are
-- handed over, so the pipeline can keep adding columns to them.
CREATE SCHEMA IF NOT EXISTS {{ reporting_schema }} AUTHORIZATION replenishment_pipeline;

ALTER SCHEMA {{ reporting_schema }} OWNER TO replenishment_pipeline;

DO $$
DECLARE
    rel record;
BEGIN
    FOR rel IN
        SELECT c.relname, c.relkind
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = '{{ reporting_schema }}'
          AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
          AND pg_get_userbyid(c.relowner) <> 'replenishment_pipeline'
    LOOP
        EXECUTE format(
            'ALTER %s %I.%I OWNER TO replenishment_pipeline',
            CASE rel.relkind
                WHEN 'v' THEN 'VIEW'
                WHEN 'm' THEN 'MATERIALIZED VIEW'
                WHEN 'f' THEN 'FOREIGN TABLE'
                ELSE 'TABLE'
            END,
            '{{ reporting_schema }}',
            rel.relname
        );
    END LOOP;
END
$$;

REVOKE ALL ON SCHEMA {{ reporting_schema }} FROM PUBLIC;

GRANT USAGE, CREATE ON SCHEMA {{ reporting_schema }} TO replenishment_pipeline;

-- BI: read the reporting tables and views, today's and those the pipeline creates later.
REVOKE ALL ON SCHEMA {{ reporting_schema }} FROM replenishment_bi;

GRANT USAGE ON SCHEMA {{ reporting_schema }} TO replenishment_bi;

REVOKE ALL ON ALL TABLES IN SCHEMA {{ reporting_schema }} FROM replenishment_bi;

GRANT SELECT ON ALL TABLES IN SCHEMA {{ reporting_schema }} TO replenishment_bi;

ALTER DEFAULT PRIVILEGES FOR ROLE replenishment_pipeline IN SCHEMA {{ reporting_schema }}
    GRANT SELECT ON TABLES TO replenishment_bi;
