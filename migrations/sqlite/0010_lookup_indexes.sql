-- Opening a patient reads their newest invoices, payments and orders. With (patient_id) alone the
-- database fetched every row of the patient and sorted them; these hand them over newest first.
-- (Issue 11: the patient profile was 3.4 s at 2M invoices because the lists were read with
-- `$1 IS NULL OR patient_id = $1`, which no planner can use an index for; the queries now say which.)
CREATE INDEX invoices_patient_newest ON invoices (patient_id, created_at, id);
CREATE INDEX payments_patient_newest ON payments (patient_id, created_at, id);
CREATE INDEX orders_patient_newest ON orders (patient_id, created_at, id);
DROP INDEX invoices_patient;
DROP INDEX payments_patient;
DROP INDEX orders_patient;
-- The expiring-cards dashboard filtered to one patient type starts from that type's patients.
CREATE INDEX patients_type ON patients (patient_type);
-- A patient's saved cards by expiry month: which cards of theirs are in range, and whether another one
-- stays valid longer, are answered from the index alone.
CREATE INDEX payment_methods_patient_expiry ON payment_methods (patient_id, (exp_year * 12 + exp_month)) WHERE removed_at IS NULL;
