-- 0107: the office choices of a district (SELECT DISTINCT office ... WHERE district = ?) and
-- the official view of one office read this index alone. Without it (on PostgreSQL, most likely the
-- generic plan of the prepared query, after five runs, walking result_cells_office whole)
-- the office and official drill-downs took 0.6-1.3 s at 50,000,000 answers
-- (docs/BENCHMARKS.md, "Results pages over 50,000,000 answers on PostgreSQL").
CREATE INDEX result_cells_district_office ON result_cells (district, office);
