"""Generate knowledge/daily_active_users.csv: the report flow's sample data source.

Deterministic (fixed seed): daily active users for five cities from 2024-01-01
to 2024-04-30, with a per-city base, a gentle trend and a weekend dip.
Run: python scripts/make_sample_data.py
"""

from __future__ import annotations

import csv
import random
from datetime import date, timedelta
from pathlib import Path

CITIES = {"Berlin": (4200, 6), "Lisbon": (1800, 9), "Nairobi": (2600, 14), "Osaka": (3500, -3), "Toronto": (3100, 4)}
START, END = date(2024, 1, 1), date(2024, 4, 30)


def main(out: Path = Path(__file__).resolve().parents[1] / "knowledge" / "daily_active_users.csv") -> None:
    rng = random.Random(20240101)
    rows = []
    day = START
    while day <= END:
        t = (day - START).days
        for city, (base, trend) in CITIES.items():
            weekend = 0.82 if day.weekday() >= 5 else 1.0
            value = (base + trend * t) * weekend * rng.uniform(0.95, 1.05)
            rows.append((day.isoformat(), city, int(round(value))))
        day += timedelta(days=1)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["date", "city", "active_users"])
        w.writerows(rows)
    print(f"wrote {len(rows)} rows to {out}")


if __name__ == "__main__":
    main()
