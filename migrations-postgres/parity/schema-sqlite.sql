-- The SQLite schema, one normalized line per fact, in the vocabulary of
-- schema-pg.sql (SQLite types as their PostgreSQL twins per CONVENTIONS.md).
-- The last part lists what PostgreSQL must have beyond SQLite.

-- tables
SELECT 'table ' || name FROM sqlite_schema
WHERE type = 'table' AND name NOT LIKE 'sqlite!_%' ESCAPE '!';

-- columns in order: type, NOT NULL (a key column is never NULL), default, and
-- `identity` for a rowid alias that is a surrogate key (not also a foreign key)
SELECT 'column ' || m.name || ' ' || printf('%02d', p.cid + 1) || ' ' || p.name || ' '
    || CASE upper(p.type) WHEN 'INTEGER' THEN 'bigint' WHEN 'REAL' THEN 'double precision'
                          WHEN 'TEXT' THEN 'text' ELSE 'UNMAPPED(' || p.type || ')' END
    || CASE WHEN p."notnull" OR p.pk > 0 THEN ' not null' ELSE '' END
    || coalesce(' default ' || p.dflt_value, '')
    || CASE WHEN upper(p.type) = 'INTEGER' AND p.pk = 1
              AND (SELECT count(*) FROM pragma_table_info(m.name) k WHERE k.pk > 0) = 1
              AND NOT EXISTS (SELECT 1 FROM pragma_index_list(m.name) l WHERE l.origin = 'pk')
              AND NOT EXISTS (SELECT 1 FROM pragma_foreign_key_list(m.name) f WHERE f."from" = p.name)
            THEN ' identity' ELSE '' END
FROM sqlite_schema m, pragma_table_info(m.name) p
WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite!_%' ESCAPE '!';

-- primary keys
SELECT 'pk ' || m.name || ' (' || group_concat(p.name, ',' ORDER BY p.pk) || ')'
FROM sqlite_schema m, pragma_table_info(m.name) p
WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite!_%' ESCAPE '!' AND p.pk > 0
GROUP BY m.name;

-- UNIQUE constraints
SELECT 'unique ' || m.name || ' ('
    || (SELECT group_concat(i.name, ',' ORDER BY i.seqno) FROM pragma_index_info(l.name) i) || ')'
FROM sqlite_schema m, pragma_index_list(m.name) l
WHERE m.type = 'table' AND l.origin = 'u';

-- foreign keys
SELECT 'fk ' || m.name || ' (' || group_concat(f."from", ',' ORDER BY f.seq) || ') -> '
    || f."table" || ' (' || group_concat(f."to", ',' ORDER BY f.seq) || ') on delete '
    || lower(f.on_delete) || ' on update ' || lower(f.on_update)
FROM sqlite_schema m, pragma_foreign_key_list(m.name) f
WHERE m.type = 'table'
GROUP BY m.name, f.id;

-- indexes made by CREATE INDEX: name, table, key columns in order with DESC
SELECT 'index ' || l.name || ' on ' || m.name || ' ('
    || (SELECT group_concat(x.name || CASE WHEN x."desc" THEN ' desc' ELSE '' END, ',' ORDER BY x.seqno)
        FROM pragma_index_xinfo(l.name) x WHERE x.key = 1) || ')'
    || CASE WHEN l."unique" THEN ' unique' ELSE '' END
    || CASE WHEN l.partial THEN ' partial' ELSE '' END
FROM sqlite_schema m, pragma_index_list(m.name) l
WHERE m.type = 'table' AND l.origin = 'c';

-- views and their columns
SELECT 'view ' || m.name || ' ('
    || (SELECT group_concat(p.name, ',' ORDER BY p.cid) FROM pragma_table_info(m.name) p) || ')'
FROM sqlite_schema m WHERE m.type = 'view';

-- triggers: table, timing and event (from the text before BEGIN), and UPDATE OF columns
WITH t AS (
    SELECT name, tbl_name,
        ' ' || upper(substr(s, 1, instr(upper(s), ' BEGIN '))) AS head, s
    FROM (SELECT name, tbl_name,
              replace(replace(replace(sql, char(10), ' '), char(13), ' '), char(9), ' ') AS s
          FROM sqlite_schema WHERE type = 'trigger'))
SELECT 'trigger ' || name || ' on ' || tbl_name || ' '
    || CASE WHEN head LIKE '% BEFORE %' THEN 'before' WHEN head LIKE '% INSTEAD OF %' THEN 'instead of'
            ELSE 'after' END || ' '
    || CASE WHEN head LIKE '% INSERT ON %' THEN 'insert' WHEN head LIKE '% DELETE ON %' THEN 'delete'
            ELSE 'update' END
    || CASE WHEN head LIKE '% WHEN %' THEN ' when' ELSE '' END
    || ' for each row'
FROM t;

WITH t AS (
    SELECT name, replace(replace(replace(sql, char(10), ' '), char(13), ' '), char(9), ' ') AS s
    FROM sqlite_schema WHERE type = 'trigger' AND instr(upper(sql), 'UPDATE OF ') > 0),
c AS (SELECT name, substr(s, instr(upper(s), 'UPDATE OF ') + 10) AS rest FROM t),
d AS (SELECT name, replace(substr(rest, 1, instr(upper(rest), ' ON ') - 1), ' ', '') AS cols FROM c)
SELECT 'trigger ' || d.name || ' update of ' || j.value
FROM d, json_each('["' || replace(d.cols, ',', '","') || '"]') j;

-- What PostgreSQL has beyond SQLite (CONVENTIONS.md): the one-row orch_data_version
-- and a statement-level change trigger on every other table.
SELECT 'table orch_data_version';
SELECT 'column orch_data_version 01 id bigint not null';
SELECT 'column orch_data_version 02 version bigint not null';
SELECT 'pk orch_data_version (id)';
SELECT 'check orch_data_version CHECK ((id = 1))';
SELECT 'row orch_data_version 1';
SELECT 'trigger ' || name || '_changed on ' || name
    || ' after insert or update or delete for each statement execute orch_data_changed'
FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite!_%' ESCAPE '!';
