"""The database refuses to edit or delete ledger rows (CommissionEntry docstring).

Only the status columns may change, only forward (pending -> approved / failed / cancelled,
approved -> paid), and `statement_period` is set once, together with the approval.
"""

from django.db import migrations

MUTABLE = "ARRAY['status', 'status_reason', 'status_changed_at', 'statement_period']"

FORWARD = f"""
CREATE FUNCTION commissions_entry_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'commission entry % is immutable: it cannot be deleted', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF (to_jsonb(NEW) - {MUTABLE}) IS DISTINCT FROM (to_jsonb(OLD) - {MUTABLE}) THEN
        RAISE EXCEPTION 'commission entry % is immutable: only its status may change', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF NEW.status IS DISTINCT FROM OLD.status AND NOT (
           (OLD.status = 'pending' AND NEW.status IN ('approved', 'failed', 'cancelled'))
        OR (OLD.status = 'approved' AND NEW.status = 'paid')) THEN
        RAISE EXCEPTION 'commission entry %: status % cannot become %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF OLD.statement_period IS NOT NULL AND NEW.statement_period IS DISTINCT FROM OLD.statement_period THEN
        RAISE EXCEPTION 'commission entry % is already on the % statement', OLD.id, OLD.statement_period
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER commissions_entry_guard
    BEFORE UPDATE OR DELETE ON commissions_commissionentry
    FOR EACH ROW EXECUTE FUNCTION commissions_entry_guard();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS commissions_entry_guard ON commissions_commissionentry;
DROP FUNCTION IF EXISTS commissions_entry_guard();
"""


class Migration(migrations.Migration):
    dependencies = [("commissions", "0001_initial")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
