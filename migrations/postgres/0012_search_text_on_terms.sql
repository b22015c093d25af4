-- A search of several words drives from one word's terms and checks the others against the patient's
-- search text. Kept beside each term (SQLite stores the terms in key order), the check reads the rows the
-- scan is already on instead of looking each candidate patient up (issue 11: "jo sm" at 200k patients).
ALTER TABLE patient_search_terms ADD COLUMN search_text TEXT NOT NULL DEFAULT '';
UPDATE patient_search_terms SET search_text = (SELECT p.search_text FROM patients p WHERE p.id = patient_search_terms.patient_id);
