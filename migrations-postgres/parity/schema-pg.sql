-- The PostgreSQL schema (current schema), one normalized line per fact, in the
-- vocabulary of schema-sqlite.sql.

-- tables
SELECT 'table ' || c.relname
FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r';

-- columns in order (defaults without their `::text` casts)
SELECT 'column ' || c.relname || ' '
    || lpad((row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum))::text, 2, '0') || ' '
    || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
    || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
    || coalesce(' default ' || regexp_replace(pg_get_expr(d.adbin, d.adrelid),
                                              '::(text|bigint|integer|double precision)$', ''), '')
    || CASE WHEN a.attidentity <> '' THEN ' identity' ELSE '' END
FROM pg_class c
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r';

-- primary keys, UNIQUE constraints, foreign keys, CHECK constraints
SELECT CASE con.contype WHEN 'p' THEN 'pk ' WHEN 'u' THEN 'unique ' ELSE 'fk ' END
    || c.relname || ' ('
    || (SELECT string_agg(a.attname, ',' ORDER BY k.ord)
        FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
        JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum) || ')'
    || CASE WHEN con.contype = 'f' THEN
           ' -> ' || (SELECT relname FROM pg_class WHERE oid = con.confrelid) || ' ('
           || (SELECT string_agg(a.attname, ',' ORDER BY k.ord)
               FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, ord)
               JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum) || ')'
           || ' on delete ' || CASE con.confdeltype WHEN 'a' THEN 'no action' WHEN 'r' THEN 'restrict'
                  WHEN 'c' THEN 'cascade' WHEN 'n' THEN 'set null' ELSE 'set default' END
           || ' on update ' || CASE con.confupdtype WHEN 'a' THEN 'no action' WHEN 'r' THEN 'restrict'
                  WHEN 'c' THEN 'cascade' WHEN 'n' THEN 'set null' ELSE 'set default' END
       ELSE '' END
FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
WHERE c.relnamespace = current_schema()::regnamespace AND con.contype IN ('p', 'u', 'f');

SELECT 'check ' || c.relname || ' ' || pg_get_constraintdef(con.oid)
FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
WHERE c.relnamespace = current_schema()::regnamespace AND con.contype = 'c';

SELECT 'row orch_data_version ' || id FROM orch_data_version;

-- indexes not made for a constraint: name, table, key columns in order with DESC
SELECT 'index ' || ic.relname || ' on ' || c.relname || ' ('
    || (SELECT string_agg(pg_get_indexdef(i.indexrelid, k, true)
                          || CASE WHEN i.indoption[k - 1] & 1 = 1 THEN ' desc' ELSE '' END,
                          ',' ORDER BY k)
        FROM generate_series(1, i.indnkeyatts) AS k) || ')'
    || CASE WHEN i.indisunique THEN ' unique' ELSE '' END
    || CASE WHEN i.indpred IS NOT NULL THEN ' partial' ELSE '' END
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_class c ON c.oid = i.indrelid
WHERE c.relnamespace = current_schema()::regnamespace
  AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid
                  AND con.conrelid = i.indrelid);

-- views and their columns
SELECT 'view ' || c.relname || ' ('
    || (SELECT string_agg(a.attname, ',' ORDER BY a.attnum) FROM pg_attribute a
        WHERE a.attrelid = c.oid AND a.attnum > 0) || ')'
FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'v';

-- triggers: table, timing, events, WHEN, level (and the change triggers' function)
SELECT 'trigger ' || t.tgname || ' on ' || c.relname || ' '
    || CASE WHEN t.tgtype & 2 = 2 THEN 'before' WHEN t.tgtype & 64 = 64 THEN 'instead of'
            ELSE 'after' END || ' '
    || array_to_string(ARRAY[CASE WHEN t.tgtype & 4 = 4 THEN 'insert' END,
                             CASE WHEN t.tgtype & 16 = 16 THEN 'update' END,
                             CASE WHEN t.tgtype & 8 = 8 THEN 'delete' END], ' or ')
    || CASE WHEN t.tgqual IS NOT NULL THEN ' when' ELSE '' END
    || CASE WHEN t.tgtype & 1 = 1 THEN ' for each row' ELSE ' for each statement' END
    || CASE WHEN t.tgname LIKE '%!_changed' ESCAPE '!' THEN ' execute ' || t.tgfoid::regproc::text ELSE '' END
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace;

SELECT 'trigger ' || t.tgname || ' update of ' || a.attname
FROM pg_trigger t
JOIN pg_attribute a ON a.attrelid = t.tgrelid AND a.attnum = ANY (t.tgattr::int2[])
WHERE NOT t.tgisinternal;
