"""Demo data: offices, their staff, a few procedures and a form. Fixed ids, so seeding twice changes nothing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from infra.db import Conn, create_pool

NS = uuid.UUID("6f1c9a4e-3d0b-4b8e-9a59-0d1f6c2b7e10")


def sid(kind: str, key: str) -> uuid.UUID:
    return uuid.uuid5(NS, f"{kind}:{key}")


@dataclass(frozen=True)
class DemoUser:
    subject: str
    office: str | None
    name: str
    roles: tuple[str, ...]


OFFICES = [
    ("KEP-ATH-001", "kep", "ΚΕΠ Δήμου Αθηναίων", "KEP Municipality of Athens", "Αθηναίων"),
    ("KEP-THE-001", "kep", "ΚΕΠ Δήμου Θεσσαλονίκης", "KEP Municipality of Thessaloniki", "Θεσσαλονίκης"),
    ("EKE-ATT-001", "eke", "ΕΚΕ Αττικής", "Point of Single Contact Attica", "Αθηναίων"),
    ("CENTRAL", "central", "Κεντρική Διοίκηση ΚΕΠ", "KEP Central Administration", None),
]

USERS = [
    DemoUser("maria.papadopoulou", "KEP-ATH-001", "Μαρία Παπαδοπούλου", ("employee",)),
    DemoUser("giorgos.nikolaou", "KEP-ATH-001", "Γιώργος Νικολάου", ("employee", "supervisor")),
    DemoUser("eleni.georgiou", "KEP-THE-001", "Ελένη Γεωργίου", ("employee",)),
    DemoUser("admin", "CENTRAL", "Διαχειριστής", ("administrator",)),
]

PROCEDURES: list[dict[str, Any]] = [
    {
        "mitos_id": "100101",
        "title_el": "Έκδοση πιστοποιητικού οικογενειακής κατάστασης",
        "title_en": "Issuance of a family status certificate",
        "owner_org": "Υπουργείο Εσωτερικών",
        "categories": ["Οικογένεια"],
        "duration_days": 1,
    },
    {
        "mitos_id": "100102",
        "title_el": "Έκδοση αντιγράφου ποινικού μητρώου",
        "title_en": "Issuance of a criminal record extract",
        "owner_org": "Υπουργείο Δικαιοσύνης",
        "categories": ["Δικαιοσύνη"],
        "duration_days": 3,
    },
    {
        "mitos_id": "100103",
        "title_el": "Χορήγηση άδειας διαμονής για επαγγελματική δραστηριότητα",
        "title_en": "Residence permit for professional activity",
        "owner_org": "Υπουργείο Μετανάστευσης και Ασύλου",
        "categories": ["Μετανάστευση"],
        "duration_days": 60,
        "eugo": True,
    },
    {
        "mitos_id": "100104",
        "title_el": "Βεβαίωση μόνιμης κατοικίας",
        "title_en": "Certificate of permanent residence",
        "owner_org": "Δήμοι",
        "categories": ["Πολίτης"],
        "duration_days": 5,
        "mykeplive": True,
    },
]

CONTACT_FORM = {
    "display": "form",
    "components": [
        {"type": "textfield", "key": "purpose", "label": "Σκοπός", "validate": {"required": True, "maxLength": 200}},
        {"type": "number", "key": "copies", "label": "Αντίγραφα", "validate": {"min": 1, "max": 10}},
    ],
}


async def seed(database_url: str) -> dict[str, int]:
    pool = await create_pool(database_url, 1, 2)
    try:
        async with pool.acquire() as conn, conn.transaction():
            return await _seed(conn)
    finally:
        await pool.close()


async def _seed(conn: Conn) -> dict[str, int]:
    counts = {"offices": 0, "users": 0, "procedures": 0, "forms": 0}
    for code, kind, name_el, name_en, municipality in OFFICES:
        status = await conn.execute(
            """INSERT INTO offices (id, code, kind, name_el, name_en, municipality)
               VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING""",
            sid("office", code),
            code,
            kind,
            name_el,
            name_en,
            municipality,
        )
        counts["offices"] += status.endswith("1")
    for u in USERS:
        status = await conn.execute(
            """INSERT INTO users (id, subject, office_id, display_name, roles)
               VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING""",
            sid("user", u.subject),
            u.subject,
            sid("office", u.office) if u.office else None,
            u.name,
            list(u.roles),
        )
        counts["users"] += status.endswith("1")
    form_id = sid("form", "generic-request:1")
    status = await conn.execute(
        """INSERT INTO forms (id, key, version, title, definition, created_by)
           VALUES ($1, 'generic-request', 1, 'Γενική αίτηση', $2, 'seed') ON CONFLICT (id) DO NOTHING""",
        form_id,
        CONTACT_FORM,
    )
    counts["forms"] += status.endswith("1")
    for p in PROCEDURES:
        status = await conn.execute(
            """INSERT INTO procedures (id, mitos_id, title_el, title_en, owner_org, categories, eugo, mykeplive,
                                       duration_days, payload, active, form_key)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, true, 'generic-request')
               ON CONFLICT (id) DO NOTHING""",
            sid("procedure", p["mitos_id"]),
            p["mitos_id"],
            p["title_el"],
            p["title_en"],
            p["owner_org"],
            p["categories"],
            p.get("eugo", False),
            p.get("mykeplive", False),
            p["duration_days"],
            {"id": p["mitos_id"], "title": p["title_el"], "source": "seed"},
        )
        counts["procedures"] += status.endswith("1")
    return counts
