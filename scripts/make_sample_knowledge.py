"""Write the sample documents in knowledge/ that the README's examples answer from.

Committed, deterministic; rerun to regenerate: python scripts/make_sample_knowledge.py

- harbor_tower_maintenance_contract.pdf: a fictitious building-maintenance contract, one
  section per page (elevators and their door sensors, roof drains, heating and ventilation,
  fire safety, cleaning, fees and penalties, contacts), so answers cite real pages.
- harbor_tower_house_rules_zh.md: short house rules in Chinese (quiet hours, visitor
  parking, rubbish sorting, the elevator B repair notice).

The report flow's data, daily_active_users.csv, comes from scripts/make_sample_data.py.
"""

from __future__ import annotations

from pathlib import Path

import pymupdf

OUT = Path(__file__).resolve().parents[1] / "knowledge"

CONTRACT = [
    (
        "Harbor Tower Maintenance Contract",
        "This contract is made between the Harbor Tower Owners Association (the owner) and "
        "Bluewater Facilities Ltd. (the contractor) for the building at 12 Quay Street.\n\n"
        "Term. The contract runs from 1 January 2025 to 31 December 2026 and renews for one year "
        "unless either party gives notice 90 days before it ends.\n\n"
        "Scope. The contractor maintains the elevators, the roof and its drains, heating and "
        "ventilation, fire safety equipment and the common areas, as set out in sections 1 to 5. "
        "Fees and penalties are in section 6, contacts in section 7.",
    ),
    (
        "Section 1: Elevators",
        "The contractor services the three elevators (A, B and C) every month and keeps a "
        "service log in the machine room.\n\n"
        "Annual safety inspection. An accredited inspector examines every elevator each March. "
        "Elevator B failed its annual safety inspection on 3 March 2025 because its door sensors "
        "did not stop the doors from closing on an obstacle.\n\n"
        "The contractor must replace the door sensors of elevator B within 30 days of the "
        "inspection, and must have the elevator re-inspected before it returns to service.\n\n"
        "Entrapment. When a person is trapped in an elevator, a technician must arrive within "
        "30 minutes, at any hour of any day.",
    ),
    (
        "Section 2: Roof and roof drains",
        "The roof drains on the north side are often blocked with leaves from the neighbouring "
        "park.\n\n"
        "The contractor must clear all roof drains every quarter, and again within 48 hours "
        "after a storm warning for the city.\n\n"
        "The roof membrane is inspected each spring. Any tear longer than 10 centimetres must be "
        "repaired within 14 days, and the contractor must report water stains on the top-floor "
        "ceilings to the building manager on the day they are found.",
    ),
    (
        "Section 3: Heating and ventilation",
        "Air filters in the ventilation units are replaced every three months.\n\n"
        "The boilers are serviced each September, before the heating season starts on 1 October. "
        "The chiller on the roof is serviced each April.\n\n"
        "If the heating fails between October and April, the contractor must restore it within "
        "24 hours or provide temporary heaters to the affected flats.",
    ),
    (
        "Section 4: Fire safety",
        "The sprinkler system is tested twice a year, in April and in October.\n\n"
        "The fire alarm and the smoke detectors in the stairwells are tested once a year. "
        "Fire extinguishers are checked every six months and replaced when their pressure "
        "gauge shows red.\n\n"
        "Emergency lights in the stairwells are tested every month for 30 seconds and once a "
        "year for three hours.",
    ),
    (
        "Section 5: Cleaning of common areas",
        "The lobby, stairwells and corridors are cleaned every weekday. The windows of the lobby "
        "are cleaned on the first Monday of each month.\n\n"
        "The contractor empties the rubbish room every Tuesday and Friday, and the recycling "
        "containers every Wednesday.",
    ),
    (
        "Section 6: Fees and penalties",
        "The owner pays the contractor a monthly fee of 4,850 euros. Invoices are due 30 days "
        "after they are received.\n\n"
        "Penalty. If the contractor misses the deadline for an elevator repair, the monthly fee "
        "is reduced by 150 euros for each day of delay. If the roof drains are not cleared within "
        "48 hours after a storm warning, the fee is reduced by 300 euros for that month.\n\n"
        "Either party may end the contract with 90 days' notice after a serious breach that is "
        "not remedied within 30 days.",
    ),
    (
        "Section 7: Contacts",
        "Building manager for the owner: Dana Lee, telephone 555-0142, manager@harbortower.example.\n\n"
        "Contractor's service desk (24 hours): 555-0100, service@bluewater.example.\n\n"
        "Requests for work outside this contract go to the building manager in writing.",
    ),
]

HOUSE_RULES_ZH = """# 海港大厦住户守则

## 安静时间
每天晚上 22:00 到早上 7:00 为安静时间，请勿装修或大声喧哗。

## 访客停车
访客请把车停在地下二层（P2），每次最多停 4 小时。

## 垃圾分类
垃圾房每周二和周五清空，可回收物每周三收集。请把纸张、塑料和玻璃分开投放。

## 电梯维修通知
B 号电梯在 2025 年 3 月 3 日的年度安全检查中未通过，原因是门传感器失灵。
维修公司须在检查后 30 天内更换门传感器，复检合格后才能恢复使用。维修期间请使用 A 号和 C 号电梯。

## 联系方式
物业经理：Dana Lee，电话 555-0142。
"""


def contract_pdf(path: Path) -> None:
    doc = pymupdf.open()
    doc.set_metadata({"title": "Harbor Tower Maintenance Contract", "author": "multimodal-crew sample"})
    for n, (heading, body) in enumerate(CONTRACT, start=1):
        page = doc.new_page()  # A4-ish default (595 x 842 pt)
        page.insert_text((56, 72), heading, fontsize=15, fontname="helv")
        page.insert_textbox(pymupdf.Rect(56, 96, 540, 780), body, fontsize=11, fontname="helv")
        page.insert_text((280, 810), f"Page {n}", fontsize=9, fontname="helv")
    doc.save(path, garbage=4, deflate=True)
    doc.close()


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    contract_pdf(OUT / "harbor_tower_maintenance_contract.pdf")
    (OUT / "harbor_tower_house_rules_zh.md").write_text(HOUSE_RULES_ZH, encoding="utf-8")
    print(f"wrote {len(CONTRACT)}-page contract PDF and the Chinese house rules to {OUT}")


if __name__ == "__main__":
    main()
