"""Seed the instrument groups and the common symbols (editable in the admin afterwards)."""

from decimal import Decimal

from django.db import migrations

GROUPS = {
    "fx_major": "FX majors",
    "fx_minor": "FX minors and crosses",
    "metals": "Metals",
    "indices": "Indices",
    "energy": "Energy",
    "crypto": "Crypto",
}

# symbol: (group, contract size, typical spread in price units)
SYMBOLS = {
    "EURUSD": ("fx_major", 100000, "0.00010"), "GBPUSD": ("fx_major", 100000, "0.00012"),
    "USDJPY": ("fx_major", 100000, "0.012"), "USDCHF": ("fx_major", 100000, "0.00014"),
    "AUDUSD": ("fx_major", 100000, "0.00012"), "USDCAD": ("fx_major", 100000, "0.00015"),
    "NZDUSD": ("fx_major", 100000, "0.00016"),
    "EURGBP": ("fx_minor", 100000, "0.00015"), "EURJPY": ("fx_minor", 100000, "0.018"),
    "GBPJPY": ("fx_minor", 100000, "0.025"), "EURCHF": ("fx_minor", 100000, "0.00018"),
    "AUDJPY": ("fx_minor", 100000, "0.02"),
    "XAUUSD": ("metals", 100, "0.25"), "XAGUSD": ("metals", 5000, "0.025"),
    "US30": ("indices", 1, "2.0"), "US500": ("indices", 1, "0.5"), "NAS100": ("indices", 1, "1.5"),
    "GER40": ("indices", 1, "1.5"), "UK100": ("indices", 1, "1.2"), "JPN225": ("indices", 1, "8.0"),
    "USOIL": ("energy", 1000, "0.03"), "UKOIL": ("energy", 1000, "0.03"), "XNGUSD": ("energy", 10000, "0.005"),
    "BTCUSD": ("crypto", 1, "30"), "ETHUSD": ("crypto", 1, "2.5"), "LTCUSD": ("crypto", 1, "0.3"),
}


def seed(apps, schema_editor):
    InstrumentGroup = apps.get_model("commissions", "InstrumentGroup")
    InstrumentSymbol = apps.get_model("commissions", "InstrumentSymbol")
    groups = {}
    for code, name in GROUPS.items():
        groups[code], _ = InstrumentGroup.objects.get_or_create(code=code, defaults={"name": name})
    for symbol, (group, contract_size, spread) in SYMBOLS.items():
        InstrumentSymbol.objects.get_or_create(
            symbol=symbol,
            defaults={"group": groups[group], "contract_size": Decimal(contract_size), "spread": Decimal(spread)},
        )


class Migration(migrations.Migration):
    dependencies = [("commissions", "0002_ledger_immutability")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
