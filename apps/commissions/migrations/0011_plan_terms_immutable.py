# The database's guard for versioned terms (DOMAIN.md "Controls"): a plan version that has
# accrued anything keeps its terms, tiers and lot rates; a change is a new version
# (apps.commissions.services.plans.plan_version_create). Its name may still be corrected.

from django.db import migrations

ACCRUED = "EXISTS (SELECT 1 FROM commissions_commissionentry e WHERE e.plan_id = {plan})"

FORWARD = f"""
CREATE FUNCTION commissions_plan_terms_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (to_jsonb(NEW) - 'name' - 'updated_at') IS DISTINCT FROM (to_jsonb(OLD) - 'name' - 'updated_at')
       AND {ACCRUED.format(plan="OLD.id")} THEN
        RAISE EXCEPTION 'plan % has accrued commission: its terms are never edited in place; create a new version',
            OLD.id USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER commissions_plan_terms_immutable BEFORE UPDATE ON commissions_plan
    FOR EACH ROW EXECUTE FUNCTION commissions_plan_terms_immutable();

CREATE FUNCTION commissions_plan_part_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (TG_OP IN ('UPDATE', 'DELETE') AND {ACCRUED.format(plan="OLD.plan_id")})
       OR (TG_OP IN ('INSERT', 'UPDATE') AND {ACCRUED.format(plan="NEW.plan_id")}) THEN
        RAISE EXCEPTION 'the plan of this % row has accrued commission: its terms are never edited in place; '
            'create a new version', TG_TABLE_NAME USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;

CREATE TRIGGER commissions_plantier_immutable BEFORE INSERT OR UPDATE OR DELETE ON commissions_plantier
    FOR EACH ROW EXECUTE FUNCTION commissions_plan_part_immutable();
CREATE TRIGGER commissions_lotrate_immutable BEFORE INSERT OR UPDATE OR DELETE ON commissions_lotrate
    FOR EACH ROW EXECUTE FUNCTION commissions_plan_part_immutable();
"""

BACKWARD = """
DROP TRIGGER commissions_lotrate_immutable ON commissions_lotrate;
DROP TRIGGER commissions_plantier_immutable ON commissions_plantier;
DROP FUNCTION commissions_plan_part_immutable();
DROP TRIGGER commissions_plan_terms_immutable ON commissions_plan;
DROP FUNCTION commissions_plan_terms_immutable();
"""


class Migration(migrations.Migration):

    dependencies = [
        ('commissions', '0010_clawback_case_chargeback_id_unique'),
    ]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
