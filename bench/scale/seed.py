"""Seed the scale benchmark's database: tenants, domains, users and millions of report rows.

    .venv/bin/python -m bench.scale.seed --records 1000000          # new database, to 1 M rows
    .venv/bin/python -m bench.scale.seed --grow --records 3000000   # same database, to 3 M rows

How the rows are made (printed again at the end of each run):

1. The database (``msp_scale``) is dropped, created and migrated with ``msp db upgrade``, as the
   app does. Tenants, domains (verified, as MSP staff would mark them), users and memberships
   are ``INSERT ... SELECT generate_series`` rows (one argon2 hash computed by the app, shared).
2. A base of real aggregate reports from ``../shared/bench/gen_reports.py`` is ingested by
   ``msp ingest`` (the real path: parse, route, dedupe, records, daily roll-ups, DKIM selectors,
   sender enrichment). The seed then checks that its own SQL roll-up of those records gives
   exactly the rows the ingestion wrote (report_daily, report_dkim_selector, sender first/last
   seen): the multiplied rows below are made by that same SQL.
3. The base reports are moved into the last 90 days (day of year modulo 90), and their roll-ups
   and senders rebuilt by that SQL.
4. Multiplication: every domain gets the same number of report "slots"; slot j of domain d
   copies base report number (31 d + 17 j) mod B to day (7 d + 29 j) mod 90 of the window:
   one ``report`` row and a copy of each of its records (same source IPs, counts and results;
   the base domain's name replaced by the domain's own in header_from, envelope and SPF
   domains and DKIM signatures). Then, with the same SQL as in step 2: the daily roll-ups, the
   DKIM selector sightings and the senders (first/last seen). Batches of domains, one
   transaction each. The multiplication writes to the schema of revision
   ``0012_merge_console_round``: the migrations after it (summary tables such as
   ``report_domain_day``) are undone first (what they added is dropped, found by comparing with
   a fresh database at that revision) and applied again by ``msp db upgrade`` at the end, so
   their own backfill statements fill them from the seeded rows.
5. Senders whose messages pass DMARC >= 90 % are marked ``approved`` (the rest ``unknown``),
   before the upgrade (the summaries count unknown-sender messages); ANALYZE.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from bench.scale import common
from bench.scale.common import Clock, connect, scalar

WINDOW_DAYS = 90
SEED_REVISION = "0012_merge_console_round"  # the schema the multiplication writes
SLOT_TAG = ".scale."  # in the external_id of every multiplied report
TIMEZONES = ("Europe/Berlin", "America/New_York", "UTC", "Europe/London", "Asia/Tokyo")


# --- database and people ----------------------------------------------------------------------


def create_database(name: str) -> None:
    with psycopg.connect(common.ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    common.run_msp("db", "upgrade", env=common.msp_env(name))


def password_hash(password: str) -> str:
    from msp.auth.passwords import hash_password

    return hash_password(password)


def seed_people(
    conn: psycopg.Connection[Any], tenants: int, per_tenant: int, pool: list[str]
) -> None:
    """Tenants, their domains (the generator's domains first, so the base reports route), a
    tenant admin and a viewer per tenant, and one MSP staff user (the driver's login)."""
    conn.execute(
        """
        INSERT INTO tenant (slug, name, timezone, plan, status, report_token, settings,
                            created_at, updated_at)
        SELECT 'client-' || lpad(i::text, 5, '0'), 'Client ' || lpad(i::text, 5, '0'),
               (%(zones)s::text[])[1 + i %% cardinality(%(zones)s::text[])], 'standard', 'active',
               'r' || substr(md5('scale' || i), 1, 16), '{}'::jsonb, now(), now()
        FROM generate_series(1, %(n)s) AS i
        """,
        {"n": tenants, "zones": list(TIMEZONES)},
    )
    conn.execute(
        """
        INSERT INTO domain (name, dkim_selectors, parked, settings, tenant_id, created_at,
                            updated_at, verified_at)
        SELECT COALESCE((%(pool)s::text[])[j * %(tenants)s + t.id],
                        'mail' || j || '.client-' || lpad(t.id::text, 5, '0') || '.example.com'),
               '[]'::jsonb, false, '{}'::jsonb, t.id, now(), now(), now()
        FROM tenant t CROSS JOIN generate_series(0, %(per)s - 1) AS j
        ORDER BY t.id, j
        """,
        {"pool": pool, "per": per_tenant, "tenants": tenants},
    )
    digest = password_hash(common.STAFF_PASSWORD)
    conn.execute(
        """
        INSERT INTO user_account (email, name, password_hash, msp_role, staff_restricted,
                                  is_active, created_at, updated_at)
        SELECT 'admin@' || slug || '.example.com', name || ' admin', %(h)s, NULL, false, true,
               now(), now() FROM tenant
        UNION ALL
        SELECT 'viewer@' || slug || '.example.com', name || ' viewer', %(h)s, NULL, false, true,
               now(), now() FROM tenant
        UNION ALL
        SELECT %(staff)s, 'Benchmark staff', %(h)s, 'msp_admin', false, true, now(), now()
        """,
        {"h": digest, "staff": common.STAFF_EMAIL},
    )
    conn.execute(
        """
        INSERT INTO membership (user_id, role, tenant_id, created_at, updated_at)
        SELECT u.id, CASE WHEN u.email LIKE 'admin@%' THEN 'tenant_admin' ELSE 'tenant_viewer' END,
               t.id, now(), now()
        FROM tenant t JOIN user_account u ON u.email IN ('admin@' || t.slug || '.example.com',
                                                         'viewer@' || t.slug || '.example.com')
        """
    )


def reset_to_seed_revision(name: str) -> None:
    """Back to the schema of ``SEED_REVISION``: drop what the later migrations added (tables,
    indexes, constraints, columns, column statistics settings), found by comparing with a fresh
    database migrated to that revision. Unlike ``msp db downgrade`` this holds when a later
    migration was edited after it ran here (it happens while its author works on it)."""
    ref = f"{name}_ref"
    with psycopg.connect(common.ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{ref}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{ref}"')
    try:
        common.run_msp("db", "upgrade", SEED_REVISION, env=common.msp_env(ref))
        with connect(ref) as conn:
            wanted = {kind: set(conn.execute(sql).fetchall()) for kind, sql in SCHEMA_SQL.items()}
    finally:
        with psycopg.connect(common.ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{ref}" WITH (FORCE)')
    with connect(name) as conn:
        have = {kind: set(conn.execute(sql).fetchall()) for kind, sql in SCHEMA_SQL.items()}
        extra_tables = {t for (t,) in have["table"] - wanted["table"]}
        for (table,) in sorted(have["table"] - wanted["table"]):
            conn.execute(f'DROP TABLE IF EXISTS "{table}" CASCADE')
        for table, constraint in sorted(have["constraint"] - wanted["constraint"]):
            if table not in extra_tables:
                conn.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT IF EXISTS "{constraint}"')
        for table, index in sorted(have["index"] - wanted["index"]):
            if table not in extra_tables:
                conn.execute(f'DROP INDEX IF EXISTS "{index}"')
        for table, column in sorted(have["column"] - wanted["column"]):
            if table not in extra_tables:
                conn.execute(f'ALTER TABLE "{table}" DROP COLUMN IF EXISTS "{column}"')
        for table, column in sorted(have["options"] - wanted["options"]):
            if table in extra_tables:
                continue
            conn.execute(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" RESET (n_distinct)')
        conn.execute("DELETE FROM alembic_version")
        conn.execute("INSERT INTO alembic_version VALUES (%s)", (SEED_REVISION,))
        conn.commit()


SCHEMA_SQL = {
    "table": "SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
    "index": "SELECT tablename, indexname FROM pg_indexes WHERE schemaname = 'public'",
    "constraint": "SELECT table_name, constraint_name FROM information_schema.table_constraints"
    " WHERE table_schema = 'public' AND constraint_type <> 'CHECK'",
    "column": "SELECT table_name, column_name FROM information_schema.columns"
    " WHERE table_schema = 'public'",
    "options": "SELECT c.relname, a.attname FROM pg_attribute a JOIN pg_class c"
    " ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attoptions IS NOT NULL",
}


# --- roll-ups in SQL (the same rows the ingestion writes) --------------------------------------

# ``scope`` is a table of report ids. Every report here covers one day or less (checked), so
# the ingestion's rule "one day or less: the day of its midpoint" is the whole rule.
DAY_OF = "((rep.begin + (rep.\"end\" - rep.begin) / 2) AT TIME ZONE 'UTC')::date"

DAILY_SQL = f"""
    INSERT INTO report_daily AS t (tenant_id, domain_id, day, source_ip, header_from, disposition,
                                   spf_aligned, dkim_aligned, messages)
    SELECT r.tenant_id, r.domain_id, {DAY_OF}, r.source_ip, r.header_from, r.disposition,
           r.spf_aligned, r.dkim_aligned, sum(r.count)
    FROM scope s JOIN report rep ON rep.id = s.id JOIN report_record r ON r.report_id = rep.id
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
    HAVING sum(r.count) > 0
    ON CONFLICT ON CONSTRAINT pk_report_daily
    DO UPDATE SET messages = t.messages + EXCLUDED.messages
"""

SELECTOR_SQL = f"""
    INSERT INTO report_dkim_selector AS t (tenant_id, domain_id, source_ip, signing_domain,
                                           selector, passed, first_seen, last_seen)
    SELECT r.tenant_id, r.domain_id, r.source_ip, left(sig->>0, 253), left(sig->>1, 255),
           bool_or(sig->>2 = 'pass'), min({DAY_OF}), max({DAY_OF})
    FROM scope s JOIN report rep ON rep.id = s.id JOIN report_record r ON r.report_id = rep.id
    CROSS JOIN LATERAL jsonb_array_elements(r.dkim) AS sig
    WHERE sig->>0 = rep.policy_domain
       OR right(sig->>0, length(rep.policy_domain) + 1) = '.' || rep.policy_domain
    GROUP BY 1, 2, 3, 4, 5
    ON CONFLICT ON CONSTRAINT pk_report_dkim_selector
    DO UPDATE SET passed = t.passed OR EXCLUDED.passed,
                  first_seen = LEAST(t.first_seen, EXCLUDED.first_seen),
                  last_seen = GREATEST(t.last_seen, EXCLUDED.last_seen)
"""

SENDER_SQL = f"""
    INSERT INTO report_sender AS t (tenant_id, domain_id, key, name, status, first_seen,
                                    last_seen, created_at, updated_at)
    SELECT r.tenant_id, r.domain_id, left(i.sender_key, 253), left(max(i.sender_name), 255),
           'unknown', min({DAY_OF}), max({DAY_OF}), now(), now()
    FROM scope s JOIN report rep ON rep.id = s.id JOIN report_record r ON r.report_id = rep.id
    JOIN report_ip_info i ON i.ip = r.source_ip
    GROUP BY 1, 2, 3
    ON CONFLICT ON CONSTRAINT uq_report_sender_key
    DO UPDATE SET first_seen = LEAST(t.first_seen, EXCLUDED.first_seen),
                  last_seen = GREATEST(t.last_seen, EXCLUDED.last_seen)
"""


def roll_up(conn: psycopg.Connection[Any]) -> None:
    """Daily roll-ups, DKIM sightings and senders of the reports in ``scope``."""
    conn.execute(DAILY_SQL)
    conn.execute(SELECTOR_SQL)
    conn.execute(SENDER_SQL)


def scope(conn: psycopg.Connection[Any], select_ids: str, params: Any = None) -> int:
    conn.execute("DROP TABLE IF EXISTS scope")
    conn.execute(f"CREATE TEMP TABLE scope ON COMMIT DROP AS {select_ids}", params)
    conn.execute("CREATE INDEX ON scope (id)")
    conn.execute("ANALYZE scope")
    return int(scalar(conn, "SELECT count(*) FROM scope"))


def check_same_as_ingestion(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """Roll the ingested base up again in SQL, into copies of the tables, and compare: the
    differences (both ways) must be 0 rows."""
    conn.execute(
        "CREATE TEMP TABLE base_daily AS SELECT * FROM report_daily;"
        "CREATE TEMP TABLE base_sel AS SELECT * FROM report_dkim_selector;"
        "CREATE TEMP TABLE base_snd AS SELECT tenant_id, domain_id, key, name, first_seen,"
        " last_seen FROM report_sender;"
        "TRUNCATE report_daily, report_dkim_selector; DELETE FROM report_sender;"
    )
    scope(conn, "SELECT id FROM report WHERE kind = 'aggregate'")
    roll_up(conn)
    diffs = {
        "report_daily": "(SELECT * FROM report_daily EXCEPT SELECT * FROM base_daily) UNION ALL"
        " (SELECT * FROM base_daily EXCEPT SELECT * FROM report_daily)",
        "report_dkim_selector": "(SELECT * FROM report_dkim_selector EXCEPT SELECT * FROM base_sel)"
        " UNION ALL (SELECT * FROM base_sel EXCEPT SELECT * FROM report_dkim_selector)",
        "report_sender": "(SELECT tenant_id, domain_id, key, name, first_seen, last_seen FROM"
        " report_sender EXCEPT SELECT * FROM base_snd) UNION ALL (SELECT * FROM base_snd EXCEPT"
        " SELECT tenant_id, domain_id, key, name, first_seen, last_seen FROM report_sender)",
    }
    return {t: int(scalar(conn, f"SELECT count(*) FROM ({q}) AS d")) for t, q in diffs.items()}


def move_base_into_window(conn: psycopg.Connection[Any], first: date) -> None:
    """Each base report to day (day of year mod 90) of the window, then its roll-ups again."""
    conn.execute(
        """
        UPDATE report SET begin = begin + shift, "end" = "end" + shift
        FROM (SELECT id AS rid,
                     (%(first)s::date + ((begin AT TIME ZONE 'UTC')::date - '2025-01-01'::date)
                      %% %(days)s) - (begin AT TIME ZONE 'UTC')::date AS days_shift
              FROM report) AS m,
             LATERAL (SELECT make_interval(days => m.days_shift) AS shift) AS s
        WHERE report.id = m.rid
        """,
        {"first": first, "days": WINDOW_DAYS},
    )
    conn.execute("TRUNCATE report_daily, report_dkim_selector; DELETE FROM report_sender")
    scope(conn, "SELECT id FROM report WHERE kind = 'aggregate'")
    roll_up(conn)


# --- multiplication --------------------------------------------------------------------------


def templates(conn: psycopg.Connection[Any]) -> tuple[int, float]:
    """Number the base reports 0..B-1 (table ``tpl``); returns B and their mean record count."""
    conn.execute("DROP TABLE IF EXISTS tpl")
    conn.execute(
        f"""
        CREATE TABLE tpl AS
        SELECT (row_number() OVER (ORDER BY id) - 1)::int AS n, id, policy_domain,
               '(^|\\.)' || replace(policy_domain, '.', '\\.') || '$' AS pattern
        FROM report
        WHERE kind = 'aggregate' AND records > 0 AND external_id NOT LIKE '%{SLOT_TAG}%'
        """
    )
    row = conn.execute(
        "SELECT count(*), avg(r.records) FROM tpl JOIN report r ON r.id = tpl.id"
    ).fetchone()
    assert row is not None
    longest = scalar(conn, 'SELECT max("end" - begin) FROM report')
    if longest is not None and longest > timedelta(days=1):
        raise SystemExit("a base report covers more than one day: the SQL roll-up assumes not")
    return int(row[0]), float(row[1])


SLOT_SQL = """
    CREATE TEMP TABLE slot ON COMMIT DROP AS
    SELECT nextval('report_id_seq')::int AS id, t.id AS tpl_id, t.policy_domain AS tname,
           t.pattern, d.id AS domain_id, d.tenant_id, d.name AS dname, j,
           %(first)s::date + ((d.id * 7 + j * 29) %% %(days)s) AS day
    FROM domain d CROSS JOIN generate_series(%(j0)s, %(j1)s - 1) AS j
    JOIN tpl t ON t.n = (d.id * 31 + j * 17) %% %(b)s
    WHERE d.id BETWEEN %(lo)s AND %(hi)s
"""

REPORT_SQL = """
    INSERT INTO report (id, raw_id, domain_id, kind, org_name, external_id, policy_domain, begin,
                        "end", email, generator, policy, records, messages, enriched, created_at,
                        tenant_id)
    SELECT s.id, NULL, s.domain_id, t.kind, t.org_name,
           left(t.external_id, 200) || '.scale.' || s.domain_id || '.' || s.j, s.dname,
           s.day + (t.begin - date_trunc('day', t.begin)),
           s.day + (t."end" - date_trunc('day', t.begin)),
           t.email, t.generator,
           replace(t.policy::text, '"' || s.tname || '"', '"' || s.dname || '"')::jsonb,
           t.records, t.messages, true, s.day + interval '1 day 3 hours', s.tenant_id
    FROM slot s JOIN report t ON t.id = s.tpl_id
"""

RECORD_SQL = """
    INSERT INTO report_record (report_id, domain_id, source_ip, count, disposition, dkim_aligned,
                               spf_aligned, header_from, envelope_from, envelope_to, spf_domain,
                               spf_result, dkim, reasons, tenant_id)
    SELECT s.id, s.domain_id, r.source_ip, r.count, r.disposition, r.dkim_aligned, r.spf_aligned,
           regexp_replace(r.header_from, s.pattern, '\\1' || s.dname),
           regexp_replace(r.envelope_from, s.pattern, '\\1' || s.dname),
           regexp_replace(r.envelope_to, s.pattern, '\\1' || s.dname),
           regexp_replace(r.spf_domain, s.pattern, '\\1' || s.dname),
           r.spf_result,
           replace(replace(r.dkim::text, '"' || s.tname || '"', '"' || s.dname || '"'),
                   '.' || s.tname || '"', '.' || s.dname || '"')::jsonb,
           r.reasons, s.tenant_id
    FROM slot s JOIN report_record r ON r.report_id = s.tpl_id
"""


def multiply(conn: psycopg.Connection[Any], target: int, first: date, batch_rows: int) -> int:
    """Add slots to every domain until about ``target`` records; returns the slots added."""
    b, mean = templates(conn)
    conn.commit()
    domains = int(scalar(conn, "SELECT count(*) FROM domain"))
    have = int(scalar(conn, "SELECT count(*) FROM report_record"))
    used = int(scalar(conn, f"SELECT count(*) FROM report WHERE external_id LIKE '%{SLOT_TAG}%'"))
    j0 = used // domains
    slots = max(0, math.ceil((target - have) / mean / domains))
    print(
        f"  {b} base reports ({mean:.1f} records each on average); {domains} domains; "
        f"{have:,} records now; adding slots {j0}..{j0 + slots - 1} to every domain "
        f"(~{slots * domains * mean:,.0f} records)",
        flush=True,
    )
    if not slots:
        return 0
    ids = [r[0] for r in conn.execute("SELECT id FROM domain ORDER BY id")]
    per_batch = max(1, int(batch_rows / mean / slots))
    for start in range(0, len(ids), per_batch):
        chunk = ids[start : start + per_batch]
        conn.execute(
            SLOT_SQL,
            {
                "first": first,
                "days": WINDOW_DAYS,
                "j0": j0,
                "j1": j0 + slots,
                "b": b,
                "lo": chunk[0],
                "hi": chunk[-1],
            },
        )
        conn.execute(REPORT_SQL)
        conn.execute(RECORD_SQL)
        scope(conn, "SELECT id FROM slot")
        roll_up(conn)
        conn.commit()
        done = int(
            scalar(conn, "SELECT reltuples::bigint FROM pg_class WHERE relname = 'report_record'")
        )
        print(f"  domains {chunk[0]}..{chunk[-1]} done (~{max(done, 0):,} records)", flush=True)
    return slots


def approve_senders(conn: psycopg.Connection[Any]) -> None:
    """What a technician would have done: senders passing DMARC >= 90 % approved."""
    conn.execute(
        """
        UPDATE report_sender s SET status = CASE WHEN p.ok >= 0.9 * p.total THEN 'approved'
                                                 ELSE 'unknown' END
        FROM (SELECT d.tenant_id, d.domain_id, i.sender_key,
                     sum(d.messages) AS total,
                     sum(d.messages) FILTER (WHERE d.spf_aligned OR d.dkim_aligned) AS ok
              FROM report_daily d JOIN report_ip_info i ON i.ip = d.source_ip
              GROUP BY 1, 2, 3) AS p
        WHERE s.tenant_id = p.tenant_id AND s.domain_id = p.domain_id AND s.key = p.sender_key
        """
    )


# --- main ------------------------------------------------------------------------------------


def counts(conn: psycopg.Connection[Any]) -> dict[str, int]:
    tables = [
        "tenant",
        "domain",
        "user_account",
        "report",
        "report_record",
        "report_daily",
        "report_dkim_selector",
        "report_sender",
        "report_ip_info",
    ]
    return {t: int(scalar(conn, f"SELECT count(*) FROM {t}")) for t in tables}


def ingest_base(work: Path, reports: int, pool_size: int) -> list[str]:
    """Generate the base reports; returns the generator's domains (to be seeded first)."""
    truth = work / "base.jsonl"
    common.generate(
        work / "base",
        "--reports",
        str(reports),
        "--domains",
        str(pool_size),
        "--seed",
        "13",
        "--truth",
        str(truth),
    )
    names = sorted({json.loads(line)["domain"] for line in truth.read_text().splitlines()})
    return names


def fresh(args: argparse.Namespace, clock: Clock, first: date) -> None:
    work = Path(tempfile.mkdtemp(prefix="scale-seed-"))
    with clock.step(f"create and migrate database {args.db} (msp db upgrade)"):
        create_database(args.db)
    with clock.step(f"generate {args.base} base reports (gen_reports.py --seed 13)"):
        pool = ingest_base(work, args.base, args.pool)
    people = f"{args.tenants} tenants x {args.per_tenant} domains, users (INSERT SELECT)"
    with clock.step(people), connect(args.db) as conn:
        seed_people(conn, args.tenants, args.per_tenant, pool)
    with clock.step("msp ingest of the base reports (the real ingestion path)"):
        out = common.run_msp("ingest", "--json", str(work / "base"), env=common.msp_env(args.db))
        statuses: dict[str, int] = {}
        for line in out.splitlines():
            if line.startswith("{"):
                status = str(json.loads(line).get("status"))
                statuses[status] = statuses.get(status, 0) + 1
        print(f"  statuses: {statuses}")
    with clock.step(f"schema back to {SEED_REVISION} (later migrations re-applied at the end)"):
        reset_to_seed_revision(args.db)
    with (
        clock.step("the seed's SQL roll-up of the base vs what the ingestion wrote"),
        connect(args.db) as conn,
    ):
        diffs = check_same_as_ingestion(conn)
        conn.rollback()
        print(f"  rows that differ: {diffs}")
        if any(diffs.values()):
            raise SystemExit("the SQL roll-up does not match the ingestion's: stopping")
    with (
        clock.step(f"move the base into the {WINDOW_DAYS} days from {first}"),
        connect(args.db) as conn,
    ):
        move_base_into_window(conn, first)
        conn.commit()


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--records", type=int, default=1_000_000, help="report_record rows wanted")
    ap.add_argument("--grow", action="store_true", help="add to the existing database")
    ap.add_argument("--tenants", type=int, default=2000)
    ap.add_argument("--per-tenant", type=int, default=10, help="domains per tenant")
    ap.add_argument("--base", type=int, default=1000, help="base reports ingested for real")
    ap.add_argument("--pool", type=int, default=200, help="generator's domain pool")
    ap.add_argument("--batch-rows", type=int, default=400_000, help="records per transaction")
    ap.add_argument("--db", default=common.DB_NAME)
    args = ap.parse_args()
    clock = Clock()
    today = datetime.now(UTC).date()
    first = today - timedelta(days=WINDOW_DAYS)  # the window ends yesterday
    if not args.grow:
        fresh(args, clock, first)
    else:
        with clock.step(f"schema back to {SEED_REVISION} (later migrations re-applied at the end)"):
            reset_to_seed_revision(args.db)
    with (
        clock.step(f"multiply in SQL to {args.records:,} report_record rows"),
        connect(args.db) as conn,
    ):
        if args.grow:
            first = scalar(conn, "SELECT min(begin)::date FROM report")
        added = multiply(conn, args.records, first, args.batch_rows)
        conn.execute("DROP TABLE IF EXISTS tpl")
        conn.commit()
    if added or not args.grow:  # verdicts already set on the senders of the rows there
        with clock.step("approve senders passing DMARC >= 90 %"), connect(args.db) as conn:
            approve_senders(conn)
            conn.commit()
    with clock.step("msp db upgrade (the later migrations backfill their summaries)"):
        common.run_msp("db", "upgrade", env=common.msp_env(args.db))
    with connect(args.db, autocommit=True) as conn:
        conn.execute("ANALYZE")
        print(f"Rows now: {json.dumps(counts(conn))}")
        print(f"Window: {first} .. {first + timedelta(days=WINDOW_DAYS - 1)}")
    how = (__doc__ or "").split("at the end of each run):")[1]
    print(f"Total {clock.total():.0f} s.\n\nHow the rows were made:\n{how}")


if __name__ == "__main__":
    main()
