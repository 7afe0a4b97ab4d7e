-- SQLite's json_each and json_extract, so that a statement that reads a JSON parameter is
-- written once for both backends: PostgreSQL runs it with SQLite's meaning. (No SQLite
-- twin: SQLite has them built in.)

-- json_each(array): a row per element of a JSON array, `key` its index from 0, `value`
-- the element as SQLite gives it: a string's text, a number's digits, NULL for null, any
-- other element's JSON (in PostgreSQL's spacing). No rows for NULL. (SQLite's also walks
-- an object; no statement asks that of it.)
CREATE FUNCTION json_each(doc TEXT) RETURNS TABLE (key BIGINT, value TEXT)
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT e.n - 1, e.element #>> '{}'
    FROM jsonb_array_elements(doc::jsonb) WITH ORDINALITY AS e(element, n)
$$;

-- json_extract(doc, path): the value at `path` (`$.key`, `$[0]`) of a JSON text, as
-- SQLite gives it (as json_each's `value`); NULL when nothing is there.
CREATE FUNCTION json_extract(doc TEXT, path TEXT) RETURNS TEXT
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT jsonb_path_query_first(doc::jsonb, ('strict ' || path)::jsonpath, '{}', true) #>> '{}'
$$;
